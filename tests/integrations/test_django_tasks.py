"""arame's Django task backend passes the conformance suite on SQLite and on Redis."""

from __future__ import annotations

import pytest

from arame.django import backend, compat, config
from arame.testing import run_until_empty
from tests.integrations.django_site.settings import SERVER_QUEUE
from tests.integrations.task_backend_contract import TaskBackendContract


class TestOnTheDjangoDatabase(TaskBackendContract):
    backend = "default"
    queue = "default"

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


@pytest.mark.redis
class TestOnRedis(TaskBackendContract):
    backend = "redis"
    queue = SERVER_QUEUE

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


@pytest.mark.postgres
class TestOnPostgreSQL(TaskBackendContract):
    backend = "postgres"
    queue = SERVER_QUEUE

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


@pytest.mark.rabbitmq
class TestOnRabbitMQ(TaskBackendContract):
    backend = "rabbitmq"
    queue = SERVER_QUEUE

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


def test_django_database_settings_become_sqlalchemy_urls() -> None:
    pg = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "u",
        "PASSWORD": "p@ss",
        "HOST": "db",
        "PORT": 5433,
    }
    assert config.database_url(pg) == "postgresql+psycopg://u:p%40ss@db:5433/shop"
    my = {"ENGINE": "django.db.backends.mysql", "NAME": "shop", "USER": "root", "HOST": ""}
    assert config.database_url(my) == "mysql+pymysql://root@localhost/shop"
    memory = config.database_url({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
    assert memory.startswith("sqlite:///") and memory.endswith("arame.db")


def test_django_priorities_keep_their_order_on_arames_scale() -> None:
    mapped = [backend.arame_priority(p) for p in range(-100, 101)]
    assert mapped[0] == 0 and mapped[-1] == 9
    assert mapped == sorted(mapped)
    assert set(mapped) == set(range(10))
