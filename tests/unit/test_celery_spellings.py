"""Celery's spellings of the same ideas: a ported task module changes only its import."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import arame
from arame.testing import run_until_empty


def test_task_async_result_status_task_id_and_name_read_the_row(app: arame.App) -> None:
    @app.task(name="reports.add")
    def add(x: int, y: int) -> int:
        return x + y

    sent = add.delay(2, 3)
    handle = add.AsyncResult(sent.id)
    assert (handle.status, handle.task_id, handle.name) == (arame.PENDING, sent.id, "reports.add")
    assert handle.date_done is None and handle.info is None
    run_until_empty(app)
    assert (handle.status, handle.info, handle.result) == (arame.SUCCESS, 5, 5)
    done = handle.date_done
    assert done is not None and done.tzinfo is not None
    assert datetime.now(UTC) - done < timedelta(minutes=1)


def test_an_id_no_one_published_has_no_name_info_or_date_done(app: arame.App) -> None:
    handle = app.AsyncResult("never-published")
    assert (handle.status, handle.name, handle.info, handle.date_done) == (arame.UNKNOWN, None, None, None)
    assert (handle.args, handle.kwargs) == (None, None)


def test_info_and_get_without_propagate_give_the_error_of_a_failed_task(app: arame.App) -> None:
    @app.task(max_retries=0)
    def explode() -> None:
        raise LookupError("no such report")

    handle = explode.delay()
    run_until_empty(app)
    error = handle.get(timeout=5, propagate=False)
    assert isinstance(error, arame.TaskFailed)
    assert (error.remote_type, error.remote_message) == ("LookupError", "no such report")
    assert isinstance(handle.info, arame.TaskFailed)
    with pytest.raises(arame.TaskFailed, match="no such report"):
        handle.get(timeout=5)


def test_forget_deletes_the_row_so_the_id_reads_unknown(app: arame.App) -> None:
    @app.task
    def noop() -> None:
        return None

    handle = noop.delay()
    run_until_empty(app)
    handle.forget()
    assert handle.status == arame.UNKNOWN


def test_a_bound_task_receives_itself_and_the_request_of_its_delivery(app: arame.App) -> None:
    seen: dict[str, Any] = {}

    @app.task(bind=True, queue="reports")
    def report(self: arame.Task[..., Any], year: int, *, region: str) -> int:
        seen.update(
            id=self.request.id,
            retries=self.request.retries,
            args=self.request.args,
            kwargs=self.request.kwargs,
            hostname=self.request.hostname,
            delivery_info=self.request.delivery_info,
        )
        return year

    handle = report.apply_async((2024,), {"region": "eu"}, priority=4)
    run_until_empty(app)
    assert handle.get(timeout=5) == 2024
    assert seen["id"] == handle.id
    assert (seen["retries"], seen["args"], seen["kwargs"]) == (0, (2024,), {"region": "eu"})
    assert seen["hostname"] and ":" in seen["hostname"]
    assert seen["delivery_info"]["routing_key"] == "reports"
    assert seen["delivery_info"]["priority"] == 4
    assert report.request.id is None and report.request.called_directly  # outside the run
    assert report(2025, region="us") == 2025  # a plain call passes self too


def test_each_worker_thread_sees_its_own_request(app: arame.App) -> None:
    barrier = threading.Barrier(2, timeout=5)

    @app.task(bind=True)
    def whoami(self: arame.Task[..., Any]) -> str | None:
        barrier.wait()  # both runs are in flight at once
        return self.request.id

    handles = [whoami.delay() for _ in range(2)]
    run_until_empty(app, concurrency=2)
    assert [h.get(timeout=5) for h in handles] == [h.id for h in handles]


def test_self_retry_with_countdown_and_exc_retries_then_records_the_cause(app: arame.App) -> None:
    @app.task(bind=True, max_retries=5, retry_jitter=False)
    def flaky(self: arame.Task[..., Any]) -> int:
        if self.request.retries < 1:
            raise self.retry(exc=ConnectionError("down"), countdown=0, max_retries=1)
        raise self.retry(exc=ConnectionError("still down"), countdown=0, max_retries=1)

    handle = flaky.delay()
    run_until_empty(app)
    row = handle.row
    assert row is not None
    # max_retries=1 overrides the task's 5: one retry, then the cause is the failure.
    assert (row.state, row.attempts, row.error_type, row.error_message) == (
        arame.FAILURE,
        2,
        "ConnectionError",
        "still down",
    )


def test_retry_with_an_eta_waits_until_then() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    retry = arame.Retry(eta=soon)
    assert retry.countdown is not None and 29 < retry.countdown <= 30
    with pytest.raises(arame.ConfigurationError, match="aware"):
        arame.Retry(eta=datetime.now())


def test_update_state_is_readable_while_the_task_runs_and_replaced_by_its_outcome(app: arame.App) -> None:
    reported = threading.Event()
    release = threading.Event()

    @app.task(bind=True)
    def long_report(self: arame.Task[..., Any], pages: int) -> str:
        self.update_state(state="PROGRESS", meta={"done": 10, "total": pages})
        reported.set()
        assert release.wait(5)
        return "report.pdf"

    handle = long_report.delay(40)
    worker = threading.Thread(target=run_until_empty, args=(app,))
    worker.start()
    assert reported.wait(5)
    assert (handle.state, handle.info) == ("PROGRESS", {"done": 10, "total": 40})
    assert not handle.ready()
    release.set()
    worker.join(10)
    assert (handle.state, handle.info) == (arame.SUCCESS, "report.pdf")


def test_update_state_never_moves_a_finished_row(app: arame.App) -> None:
    @app.task
    def done() -> int:
        return 1

    handle = done.delay()
    run_until_empty(app)
    assert done.update_state(handle.id, state="PROGRESS", meta={"late": True}) is False
    assert (handle.state, handle.info) == (arame.SUCCESS, 1)


def test_update_state_refuses_terminal_states_and_a_missing_task_id(app: arame.App) -> None:
    @app.task
    def job() -> None:
        return None

    with pytest.raises(arame.ConfigurationError, match="task_id"):
        job.update_state(state="PROGRESS")
    for state in ("SUCCESS", "FAILURE", "REVOKED", "PENDING", "A" * 17):
        with pytest.raises(arame.ConfigurationError):
            job.update_state("some-id", state=state)


def test_a_task_in_a_custom_state_can_be_revoked_with_terminate(app: arame.App) -> None:
    @app.task
    def job() -> None:
        return None

    handle = job.delay()
    assert job.update_state(handle.id, state="PROGRESS", meta={"done": 1})
    assert handle.revoke(terminate=True)
    assert handle.state == arame.REVOKED


def test_ignore_result_keeps_the_state_but_not_the_value(app: arame.App) -> None:
    @app.task(ignore_result=True)
    def secret() -> str:
        return "do not store me"

    handle = secret.delay()
    run_until_empty(app)
    assert (handle.state, handle.result, handle.get(timeout=5)) == (arame.SUCCESS, None, None)


def test_retry_kwargs_and_default_retry_delay_become_arame_options(app: arame.App) -> None:
    @app.task(autoretry_for=(OSError,), retry_kwargs={"max_retries": 7, "countdown": 3})
    def fetch() -> None:
        return None

    @app.task(default_retry_delay=9)
    def other() -> None:
        return None

    assert (fetch.options.max_retries, fetch.options.retry_delay) == (7, 3)
    assert other.options.retry_delay == 9
    with pytest.raises(arame.ConfigurationError, match="retry_kwargs takes max_retries and countdown"):
        app.task(retry_kwargs={"interval": 1})(lambda: None)


@pytest.mark.parametrize(
    ("option", "value", "hint"),
    [
        ("acks_late", False, "acknowledges after the outcome is committed"),
        ("serializer", "pickle", "JSON only"),
        ("base", object, "custom Task classes"),
        ("track_started", False, "always records STARTED"),
        ("reject_on_worker_lost", False, "delivered again"),
        ("typing", False, "checks arguments"),
        ("trail", True, "child tasks"),
        ("exchange", "tasks", "use queue="),
        ("max_retries", None, "give a number"),
    ],
)
def test_a_celery_option_arame_does_not_do_fails_at_declaration_naming_the_arame_way(
    app: arame.App, option: str, value: Any, hint: str
) -> None:
    with pytest.raises(arame.ConfigurationError, match=rf"{option}=.*{hint}|{hint}"):
        app.task(name="ported", **{option: value})(lambda: None)


def test_celery_rate_limit_is_accepted_as_arames_global_rate_limit(app: arame.App) -> None:
    @app.task(rate_limit="10/m")
    def ported() -> None:
        return None

    assert ported.options.rate_limit == "10/m"


def test_celery_options_that_mean_what_arame_does_are_accepted_silently(app: arame.App) -> None:
    @app.task(acks_late=True, track_started=True, typing=True, serializer="json", trail=False)
    def ported() -> None:
        return None

    assert ported.name.endswith("ported")


def test_autodiscover_imports_the_tasks_module_of_each_package_that_has_one(
    app: arame.App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "shop_app", SimpleNamespace(app=app))
    (tmp_path / "shop_orders").mkdir()
    (tmp_path / "shop_orders" / "__init__.py").write_text("")
    (tmp_path / "shop_orders" / "tasks.py").write_text(
        "from shop_app import app\n\n@app.task(name='orders.ship')\ndef ship(): ...\n"
    )
    (tmp_path / "shop_pages").mkdir()
    (tmp_path / "shop_pages" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = app.autodiscover_tasks(lambda: ["shop_orders", "shop_pages"])
        assert found == ["shop_orders.tasks"]
        assert "orders.ship" in app.tasks
    finally:
        for name in ("shop_orders", "shop_orders.tasks", "shop_pages"):
            sys.modules.pop(name, None)


def test_autodiscover_reports_a_tasks_module_that_fails_to_import(
    app: arame.App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop_broken").mkdir()
    (tmp_path / "shop_broken" / "__init__.py").write_text("")
    (tmp_path / "shop_broken" / "tasks.py").write_text("import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="not_installed_anywhere"):
            app.autodiscover_tasks(["shop_broken"])
    finally:
        for name in ("shop_broken", "shop_broken.tasks"):
            sys.modules.pop(name, None)


def test_a_bound_shared_task_runs_with_its_task_as_self_and_offers_async_result(app: arame.App) -> None:
    @arame.shared_task(bind=True, name="shared.whoami")
    def whoami(self: arame.Task[..., Any]) -> str | None:
        return self.request.id

    handle = whoami.delay()
    run_until_empty(app)
    assert whoami.AsyncResult(handle.id).get(timeout=5) == handle.id
    assert whoami() is None  # a plain call: self is passed, the request is empty
