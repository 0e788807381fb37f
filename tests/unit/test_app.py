"""App: its registry, configuration, send_task and the workers it builds."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

import arame
from arame.transport import queue_sizes


def test_an_app_opens_nothing_until_it_is_used(tmp_path: Path) -> None:
    arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/r.db")
    assert list(tmp_path.iterdir()) == []


def test_the_repr_of_an_app_shows_its_broker_without_the_password(tmp_path: Path) -> None:
    app = arame.App("shop", broker="redis://:secret@localhost:6379/0", results=f"sqlite:///{tmp_path}/r.db")
    assert "shop" in repr(app)
    assert "redis://:***@localhost:6379/0" in repr(app)
    assert "secret" not in repr(app)


def test_configure_points_the_app_at_another_broker(tmp_path: Path) -> None:
    app = arame.App(broker="redis://localhost:6379/0", results=f"sqlite:///{tmp_path}/r.db")
    app.configure(broker="memory://")
    assert app.broker.kind == "memory"


def test_configure_with_a_bad_url_keeps_the_previous_one(tmp_path: Path) -> None:
    app = arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/r.db")
    with pytest.raises(arame.ConfigurationError):
        app.configure(broker="redsi://localhost")
    assert app.broker.kind == "memory"


def test_queues_are_the_default_queue_and_every_queue_a_task_names(app: arame.App) -> None:
    @app.task(queue="emails")
    def email() -> None:
        return None

    @app.task(queue="billing")
    def bill() -> None:
        return None

    assert app.queues() == sorted({"default", "emails", "billing"})


def test_a_custom_default_queue_is_where_tasks_without_a_queue_go(tmp_path: Path) -> None:
    app = arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/r.db", default_queue="jobs")

    @app.task
    def job() -> None:
        return None

    assert job.queue == "jobs"
    assert "jobs" in app.queues()


def test_send_task_publishes_a_registered_task_by_name(app: arame.App) -> None:
    @app.task(name="math.add")
    def add(x: int, y: int) -> int:
        return x + y

    handle = app.send_task("math.add", [1, 2])
    assert handle.state == arame.PENDING
    assert queue_sizes(app.broker, ["default"]) == {"default": 1}


def test_send_task_publishes_a_name_declared_only_in_another_service(app: arame.App) -> None:
    handle = app.send_task("billing.charge", [1, 2], {"currency": "EUR"}, queue="billing", priority=7)
    assert handle.state == arame.PENDING
    assert handle.name == "billing.charge"
    assert queue_sizes(app.broker, ["billing"]) == {"billing": 1}


def test_a_worker_with_an_unknown_pool_is_refused(app: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError, match="pool"):
        app.worker(pool="greenlet")


def test_a_process_pool_is_refused_on_memory_which_lives_in_one_process(app: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError, match="thread pool"):
        app.worker(pool="process")


def test_a_worker_defaults_to_every_queue_and_one_slot_per_cpu(app: arame.App) -> None:
    app.task(queue="emails")(lambda: None)
    worker = app.worker()
    assert worker.queues == ["default", "emails"]
    assert worker.concurrency == (os.cpu_count() or 1)


def test_a_worker_with_zero_concurrency_is_refused(app: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError, match="concurrency"):
        app.worker(concurrency=0)


def test_result_expires_accepts_seconds_as_a_number_and_prune_uses_it(app: arame.App, tmp_path: Path) -> None:
    numbered = arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/expires.db", result_expires=3600)
    try:
        assert numbered.result_expires == timedelta(hours=1)
        assert numbered.prune() == 0
        numbered.result_expires = 60.5
        assert numbered.result_expires == timedelta(seconds=60.5)
    finally:
        numbered.close()


@pytest.mark.parametrize("expires", ["3600", -5, timedelta(days=-1), True, None])
def test_a_result_expires_that_is_not_a_period_is_refused_at_construction(
    tmp_path: Path, expires: object
) -> None:
    with pytest.raises(arame.ConfigurationError, match="result_expires"):
        arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/r.db", result_expires=expires)  # type: ignore[arg-type]
