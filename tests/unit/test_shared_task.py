"""shared_task: declared once for every app, published through the current one."""

from __future__ import annotations

import gc
import uuid
from pathlib import Path

import pytest

import arame
from arame.shared_tasks import registry
from arame.testing import reset_memory_transport, run_until_empty


def _app(tmp_path: Path, name: str) -> arame.App:
    return arame.App(name, broker="memory://", results=f"sqlite:///{tmp_path}/{name}.db")


def _unique_name() -> str:
    return f"shared.ping_{uuid.uuid4().hex[:8]}"


def test_a_shared_task_with_no_app_alive_refuses_to_publish() -> None:
    gc.collect()
    try:
        registry.current_app()
    except arame.ConfigurationError:
        pass
    else:
        pytest.skip("an App created earlier in this process is still alive")

    @arame.shared_task(name=_unique_name())
    def ping() -> str:
        return "pong"

    with pytest.raises(arame.ConfigurationError, match="create one"):
        ping.delay()


def test_a_shared_task_declared_before_an_app_is_registered_in_apps_created_later(tmp_path: Path) -> None:
    name = _unique_name()

    @arame.shared_task(name=name)
    def ping() -> str:
        return "pong"

    later = _app(tmp_path, "later")
    assert later.tasks[name].fn is ping.fn
    assert later.tasks[name].name == name


def test_a_shared_task_is_registered_in_apps_that_already_exist(tmp_path: Path) -> None:
    first, second = _app(tmp_path, "first"), _app(tmp_path, "second")
    name = _unique_name()

    @arame.shared_task(name=name, queue="pings")
    def ping() -> str:
        return "pong"

    for app in (first, second):
        assert name in app.tasks
        assert app.tasks[name].queue == "pings"
        assert "pings" in app.queues()


def test_a_shared_task_without_a_name_is_named_after_its_module_and_qualname(tmp_path: Path) -> None:
    @arame.shared_task
    def shared_unnamed_probe() -> str:
        return "pong"

    app = _app(tmp_path, "named")
    assert shared_unnamed_probe.name == f"{__name__}.{shared_unnamed_probe.fn.__qualname__}"
    assert shared_unnamed_probe.name in app.tasks


def test_delay_on_a_shared_task_publishes_through_the_most_recently_created_app(tmp_path: Path) -> None:
    reset_memory_transport()

    @arame.shared_task(name=_unique_name())
    def ping() -> str:
        return "pong"

    older, current = _app(tmp_path, "older"), _app(tmp_path, "current")
    try:
        handle = ping.delay()
        assert current.AsyncResult(handle.id).state == arame.PENDING
        assert older.AsyncResult(handle.id).state == arame.UNKNOWN
        run_until_empty(current)
        assert current.AsyncResult(handle.id).get(timeout=5) == "pong"
    finally:
        older.close()
        current.close()
        reset_memory_transport()


def test_when_the_app_made_last_is_gone_a_shared_task_publishes_through_the_one_made_before(
    tmp_path: Path,
) -> None:
    # A project keeps its App (Django's); a test, a command or a library makes one and drops it.
    kept = _app(tmp_path, "kept")

    @arame.shared_task(name=_unique_name())
    def ping() -> str:
        return "pong"

    dropped = _app(tmp_path, "dropped")
    dropped.close()
    del dropped
    gc.collect()
    try:
        assert kept.AsyncResult(ping.delay().id).state == arame.PENDING
    finally:
        kept.close()


def test_calling_a_shared_task_runs_it_in_process(tmp_path: Path) -> None:
    @arame.shared_task(name=_unique_name())
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
