"""arame's Django task backend passes the conformance suite on SQLite and on Redis."""

from __future__ import annotations

import pytest

from arame.django import backend, compat
from arame.testing import run_until_empty
from tests.integrations.django_site.settings import REDIS_QUEUE
from tests.integrations.task_backend_contract import TaskBackendContract


class TestOnTheDjangoDatabase(TaskBackendContract):
    backend = "default"
    queue = "default"

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


@pytest.mark.redis
class TestOnRedis(TaskBackendContract):
    backend = "redis"
    queue = REDIS_QUEUE

    def drain(self) -> None:
        run_until_empty(compat.task_backends[self.backend].app, queues=[self.queue])


def test_django_priorities_keep_their_order_on_arames_scale() -> None:
    mapped = [backend.arame_priority(p) for p in range(-100, 101)]
    assert mapped[0] == 0 and mapped[-1] == 9
    assert mapped == sorted(mapped)
    assert set(mapped) == set(range(10))
