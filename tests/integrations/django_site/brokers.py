"""Apps on server brokers, for the Django task backend's conformance suite."""

from __future__ import annotations

import os

import arame
from tests.integrations.django_site.settings import FOLDER

redis_app = arame.App(
    "django-redis",
    broker="redis://127.0.0.1:6379/15",
    results=f"sqlite:///{os.path.join(FOLDER, 'redis-results.db')}",
)

postgres_app = arame.App(
    "django-postgres",
    broker="postgresql://postgres@127.0.0.1:5432/test",
    results=f"sqlite:///{os.path.join(FOLDER, 'postgres-results.db')}",
)
rabbitmq_app = arame.App(
    "django-rabbitmq",
    broker="amqp://guest:guest@127.0.0.1:5672//",
    results=f"sqlite:///{os.path.join(FOLDER, 'rabbitmq-results.db')}",
)
