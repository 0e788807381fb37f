"""Kombu's own integration suite (``t/integration/common.py``) on arame's Redis and SQL transports.

Copied next to ``common.py`` in an unpacked kombu sdist by ``scripts/kombu-suite``; not part of
arame's test run. Connections are arame's ``Connection``, which keeps arame's transport classes
through failover, ``clone()`` and ``Pool()``.
"""

from __future__ import annotations

import os

import pytest

from arame.transport.connection import Connection

from .common import (
    BaseExchangeTypes,
    BaseFailover,
    BaseMessage,
    BasePriority,
    BaseTimeToLive,
    BasicFunctionality,
)

REDIS = os.environ.get("ARAME_KOMBU_REDIS", "redis://127.0.0.1:6379/15")
SQL = {
    "sqlite": "sqla+sqlite:///{tmp}/kombu-suite.db",
    "postgres": "sqla+postgresql+psycopg://127.0.0.1/test",
    "mysql": "sqla+mysql+pymysql://root@127.0.0.1/test",
}


@pytest.fixture(params=["redis", *SQL])
def connection(request, tmp_path):
    url = REDIS if request.param == "redis" else SQL[request.param].format(tmp=tmp_path)
    return Connection(url)


@pytest.fixture
def invalid_connection():
    return Connection("redis://127.0.0.1:1/15")


@pytest.fixture
def failover_connection():
    return Connection(f"redis://127.0.0.1:1/15;{REDIS}")


class TestAramePriority(BasePriority):
    # arame serves 9 first on every transport, as RabbitMQ does. These fail: they expect one
    # drain_events() to deliver several messages, which only AMQP does.
    PRIORITY_ORDER = "asc"


class TestArameBasicFunctionality(BasicFunctionality):
    pass


class TestArameExchangeTypes(BaseExchangeTypes):
    # test_fanout fails by design: a fanout exchange is refused at declaration (ConfigurationError)
    # instead of accepted and then losing every message.
    pass


class TestArameTimeToLive(BaseTimeToLive):
    # These fail: per-message ``expiration`` is AMQP's; arame has its own ``expires`` option.
    pass


class TestArameMessage(BaseMessage):
    pass


class TestArameFailover(BaseFailover):
    # Two fail by design: they expect transport_cls to stay the scheme's name ("redis"), where
    # arame's Connection keeps its own transport class.
    pass
