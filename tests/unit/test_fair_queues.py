"""Fair sub-queues: named per key value, traced back to their queue, refused when they cannot fit."""

from __future__ import annotations

import pytest

import arame
from arame.message import MAX_NAME_LENGTH
from arame.subqueues import fair_parent, fair_queue


def test_each_key_value_has_its_own_sub_queue_that_names_its_queue() -> None:
    acme, other = fair_queue("reports", "acme"), fair_queue("reports", "other")
    assert acme != other
    assert acme.startswith("reports.fair.acme-")
    assert fair_parent(acme) == fair_parent(other) == "reports"
    assert fair_queue("reports", "acme") == acme  # the same key, the same sub-queue, in any process


def test_a_key_value_of_any_text_makes_a_safe_bounded_name() -> None:
    name = fair_queue("q", "tenant/with spaces & ünïcode" * 20)
    assert len(name) <= MAX_NAME_LENGTH
    assert fair_parent(name) == "q"
    assert " " not in name and "/" not in name


def test_queues_that_are_not_sub_queues_have_no_parent() -> None:
    assert fair_parent("reports") is None
    assert fair_parent("reports.fair.") is None
    assert fair_parent("a.fair.b") is None


def test_a_queue_too_long_for_a_sub_queue_is_refused_when_a_fair_task_is_published() -> None:
    app = arame.App(broker="memory://", results="sqlite://")

    @app.task(name="fair.long", queue="q" * 240, fair_key="tenant")
    def work(tenant: str) -> None: ...

    with pytest.raises(arame.ConfigurationError, match="fair_key"):
        work.delay("acme")


def test_a_fair_key_must_name_an_argument_or_be_a_callable() -> None:
    app = arame.App(broker="memory://", results="sqlite://")
    with pytest.raises(arame.ConfigurationError, match="fair_key='tenant' names no argument"):
        app.task(name="a", fair_key="tenant")(lambda order: None)
    with pytest.raises(arame.ConfigurationError, match="fair_key"):
        app.task(name="b", fair_key=3)(lambda order: None)
