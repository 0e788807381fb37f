"""The Celery spellings a port hits at once: each works, or fails at once naming the arame way."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import arame
from arame.testing import run_until_empty

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _declare(app: arame.App) -> tuple[arame.Task[[int, int], int], arame.Task[[int, int], int]]:
    @app.task(name="port.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="port.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    return add, mul


def _published_by_scheduler(app: arame.App, seconds: int) -> list[tuple[str, datetime]]:
    """What the app's scheduler publishes over ``seconds`` from its first start."""
    scheduler = app.scheduler()
    scheduler.step(T0)  # first start ever: nothing due yet
    return scheduler.step(T0 + timedelta(seconds=seconds))


def _tick_result(app: arame.App, name: str, tick: datetime) -> object:
    run_until_empty(app)
    return app.AsyncResult(f"{name}@{tick.strftime('%Y%m%dT%H%M%SZ')}").get(timeout=10)


def test_calling_a_chain_publishes_it_and_returns_its_handle(app: arame.App) -> None:
    add, mul = _declare(app)
    handle = arame.chain(add.s(2, 3), mul.s(4))()
    run_until_empty(app)
    assert isinstance(handle, arame.AsyncResult)
    assert handle.get(timeout=10) == 20


def test_calling_a_group_publishes_it_and_returns_a_group_result(app: arame.App) -> None:
    add, _ = _declare(app)
    handle = arame.group(add.s(i, i) for i in range(3))()
    run_until_empty(app)
    assert isinstance(handle, arame.GroupResult)
    assert handle.get(timeout=10) == [0, 2, 4]


def test_async_result_of_an_id_reads_through_the_current_app_or_the_app_given(app: arame.App) -> None:
    add, _ = _declare(app)
    sent = add.delay(1, 2)
    run_until_empty(app)
    assert arame.AsyncResult(sent.id).get(timeout=10) == 3
    assert arame.AsyncResult(sent.id, app=app).state == arame.SUCCESS
    assert arame.AsyncResult(uuid.uuid4().hex, app=app).state == arame.UNKNOWN


def test_async_result_before_any_app_exists_says_to_create_one_or_give_app() -> None:
    code = "from arame import AsyncResult\nAsyncResult('abc')"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert ran.returncode == 1
    assert "ConfigurationError: no arame.App exists yet" in ran.stderr
    assert "give app=" in ran.stderr


def test_app_backend_is_celerys_name_for_results(results_url: str) -> None:
    app = arame.App("port", broker="memory://", backend=f"db+{results_url}")
    assert app.results_url == results_url


def test_app_backend_that_is_not_a_sql_database_fails_naming_results(results_url: str) -> None:
    with pytest.raises(arame.ConfigurationError, match=r"backend='redis://u:\*\*\*@h/0'.*give results="):
        arame.App("port", broker="memory://", backend="redis://u:secret@h/0")
    with pytest.raises(arame.ConfigurationError, match="give results= only"):
        arame.App("port", broker="memory://", results=results_url, backend=results_url)


def test_app_include_imports_the_modules_when_a_worker_starts_as_celery_does(
    results_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Celery's layout: proj/celery.py names proj.tasks, which imports the app from proj.celery.
    package = f"proj_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "celery.py").write_text(
        textwrap.dedent(f"""
            import arame
            app = arame.App("proj", broker="memory://", results={results_url!r},
                            include=["{package}.tasks"])
        """)
    )
    (tmp_path / package / "tasks.py").write_text(
        textwrap.dedent(f"""
            from {package}.celery import app

            @app.task
            def add(x, y):
                return x + y
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    proj = __import__(f"{package}.celery", fromlist=["app"])
    sent = proj.app.send_task(f"{package}.tasks.add", (2, 3))
    run_until_empty(proj.app)
    assert sent.get(timeout=10) == 5


def test_an_unknown_app_keyword_fails_naming_the_options() -> None:
    with pytest.raises(arame.ConfigurationError, match="unknown keyword 'task_cls'; its options are name"):
        arame.App("port", broker="memory://", task_cls="proj:MyTask")  # type: ignore[arg-type]
    with pytest.raises(arame.ConfigurationError, match=r"worker_concurrency.*arame worker -c N"):
        arame.App("port", broker="memory://", worker_concurrency=4)  # type: ignore[arg-type]


def test_a_celery_setting_given_to_app_sets_the_option_it_maps() -> None:
    app = arame.App("port", broker="memory://", task_default_queue="emails")  # type: ignore[arg-type]
    assert app.default_queue == "emails"


def test_conf_update_sets_the_app_options_and_refuses_what_arame_does_not_do(app: arame.App) -> None:
    app.conf.update(timezone="Europe/Paris", task_default_queue="emails", result_expires=60)
    app.conf.task_serializer = "json"  # what arame always does: accepted
    assert (app.timezone, app.default_queue, app.result_expires) == (
        "Europe/Paris",
        "emails",
        timedelta(seconds=60),
    )
    assert app.conf.timezone == "Europe/Paris"
    with pytest.raises(arame.ConfigurationError, match=r"task_routes.*give queue="):
        app.conf.update(timezone="UTC", task_routes={"port.*": {"queue": "q"}})
    assert app.timezone == "Europe/Paris"  # nothing was set
    with pytest.raises(arame.ConfigurationError, match="not a setting arame knows"):
        app.conf.no_such_setting = 1


def test_conf_beat_schedule_publishes_its_entries(app: arame.App) -> None:
    _declare(app)
    app.conf.beat_schedule = {"every-10s": {"task": "port.add", "schedule": 10.0, "args": (16, 16)}}
    published = _published_by_scheduler(app, 10)
    assert [name for name, _ in published] == ["port.add"]
    assert _tick_result(app, "port.add", published[0][1]) == 32
    with pytest.raises(AttributeError, match=r"app\.periodic_entries"):
        _ = app.conf.beat_schedule


def test_add_periodic_task_publishes_the_signature_on_its_schedule(app: arame.App) -> None:
    add, _ = _declare(app)
    app.add_periodic_task(10.0, add.s(2, 2), name="add every 10")
    published = _published_by_scheduler(app, 10)
    assert [name for name, _ in published] == ["port.add"]
    assert _tick_result(app, "port.add", published[0][1]) == 4


def test_periodic_every_takes_seconds_as_a_number(app: arame.App) -> None:
    @app.periodic(every=5)
    @app.task(name="port.tick")
    def tick() -> str:
        return "tick"

    published = _published_by_scheduler(app, 5)
    assert [name for name, _ in published] == ["port.tick"]
    assert _tick_result(app, "port.tick", published[0][1]) == "tick"


def test_control_revoke_revokes_the_task(app: arame.App) -> None:
    add, _ = _declare(app)
    sent = add.delay(1, 1)
    app.control.revoke(sent.id)
    run_until_empty(app)
    assert sent.state == arame.REVOKED
    assert not hasattr(app.control, "inspect")
    with pytest.raises(arame.ArameError, match="arame workers"):
        app.control.inspect()


def test_task_chunks_fails_naming_map_and_hasattr_answers_false(app: arame.App) -> None:
    add, _ = _declare(app)
    assert not hasattr(add, "chunks")
    with pytest.raises(arame.ArameError, match=r"task\.map"):
        add.chunks([(1, 2), (3, 4)], 2)  # type: ignore[misc]


def test_celery_app_hooks_fail_naming_the_arame_way(app: arame.App) -> None:
    assert not hasattr(app, "on_after_configure")
    with pytest.raises(AttributeError, match="add_periodic_task"):
        _ = app.on_after_configure
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        _ = app.no_such_thing  # type: ignore[attr-defined]
