"""Settings of the Django site the integration tests run against (configured in conftest)."""

from __future__ import annotations

import os
import tempfile
import uuid

# Set in the environment so that a manage.py subprocess of a test shares them. Named per xdist
# worker: pytest's controller imports this too when given tests/integrations, and its environment
# is every worker's, so unnamed the workers would share one database file and one queue.
_OWNER = os.environ.get("PYTEST_XDIST_WORKER", "main")
FOLDER = os.environ.setdefault(
    f"ARAME_TEST_DJANGO_FOLDER_{_OWNER}", tempfile.mkdtemp(prefix="arame-django-site-")
)
#: A queue of its own on the shared servers (Redis db 15, RabbitMQ, PostgreSQL): no other test sees it.
SERVER_QUEUE = os.environ.setdefault(f"ARAME_TEST_DJANGO_QUEUE_{_OWNER}", f"django-{uuid.uuid4().hex[:12]}")

SETTINGS = {
    "SECRET_KEY": "tests",
    "USE_TZ": True,
    "INSTALLED_APPS": ["django.contrib.contenttypes", "arame.django", "tests.integrations.django_site.shop"],
    "DATABASES": {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(FOLDER, "db.sqlite3")}
    },
    "TASKS": {
        "default": {"BACKEND": "arame.django.TaskBackend", "QUEUES": ["default"]},
        **{
            name: {
                "BACKEND": "arame.django.TaskBackend",
                "QUEUES": [SERVER_QUEUE],
                "OPTIONS": {"APP": f"tests.integrations.django_site.brokers.{name}_app"},
            }
            for name in ("redis", "postgres", "rabbitmq")
        },
    },
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}
