"""Flow-control options: rates parse as users write them, the GCRA admits and lines up starts."""

from __future__ import annotations

import pytest

import arame
from arame.flow import concurrency_key_of, parse_rate
from arame.flow.gcra import decide


@pytest.mark.parametrize(("text", "per_second"), [("100/s", 100.0), ("30/m", 0.5), ("36/h", 0.01), (5, 5.0)])
def test_a_rate_reads_as_celery_writes_it(text: str | int, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("bad", ["fast", "10/d", "0/s", "-1/s", True])
def test_a_rate_that_is_not_one_is_refused_at_declaration(bad: object) -> None:
    app = arame.App(broker="memory://", results="sqlite://")
    with pytest.raises(arame.ConfigurationError, match="rate_limit"):
        app.task(name="bad", rate_limit=bad)(lambda: None)


def test_a_concurrency_key_must_name_an_argument_and_come_with_a_limit() -> None:
    app = arame.App(broker="memory://", results="sqlite://")
    with pytest.raises(arame.ConfigurationError, match="names no argument"):
        app.task(name="a", concurrency_limit=2, concurrency_key="tenant")(lambda order: None)
    with pytest.raises(arame.ConfigurationError, match="needs concurrency_limit"):
        app.task(name="b", concurrency_key="order")(lambda order: None)
    with pytest.raises(arame.ConfigurationError, match="concurrency_limit"):
        app.task(name="c", concurrency_limit=0)(lambda: None)


def test_a_concurrency_key_is_read_from_the_call_positional_keyword_or_default() -> None:
    import inspect

    def fn(order: int, tenant_id: str = "main") -> None: ...

    signature = inspect.signature(fn)
    assert concurrency_key_of("tenant_id", signature, (1, "acme"), {}) == "acme"
    assert concurrency_key_of("tenant_id", signature, (1,), {"tenant_id": "zeta"}) == "zeta"
    assert concurrency_key_of("tenant_id", signature, (1,), {}) == "main"
    assert concurrency_key_of(lambda order, **_: order % 2, signature, (3,), {}) == "1"


def test_the_gcra_admits_a_burst_then_lines_the_rest_up_at_the_rate() -> None:
    first = decide(tat=0.0, tail=0.0, now=100.0, rate=10.0, burst=2, count=5)
    assert first.granted == 2
    assert first.not_before == pytest.approx([100.1, 100.2, 100.3])
    later = decide(first.tat, first.tail, now=100.05, rate=10.0, burst=2, count=1)
    assert later.granted == 0
    assert later.not_before == pytest.approx([100.4])  # behind the ones already waiting
    idle = decide(later.tat, later.tail, now=200.0, rate=10.0, burst=2, count=1)
    assert idle.granted == 1
