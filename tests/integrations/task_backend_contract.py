"""A conformance suite for Django task backends, reusable as a mixin.

A subclass says which backend alias to test (``backend``) and how to run the queued tasks until
none is left (``drain()``); every test then holds for that backend. Django has no public suite
of this kind; this one checks what ``django.tasks`` documents for a backend that declares
``supports_defer``, ``supports_async_task``, ``supports_get_result`` and ``supports_priority``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from arame.django import compat
from tests.integrations.django_site.shop import tasks

Status = compat.TaskResultStatus


class TaskBackendContract:
    backend: str = "default"
    queue: str = "default"

    def drain(self) -> None:
        raise NotImplementedError

    def use(self, task: Any, **changes: Any) -> Any:
        return task.using(backend=self.backend, queue_name=self.queue, **changes)

    def test_the_backend_supports_defer_async_results_and_priority(self) -> None:
        backend = compat.task_backends[self.backend]
        assert backend.supports_defer and backend.supports_async_task
        assert backend.supports_get_result and backend.supports_priority

    def test_an_enqueued_task_is_ready_until_a_worker_runs_it(self) -> None:
        result = self.use(tasks.add).enqueue(2, 3)
        assert result.status == Status.READY and result.enqueued_at is not None
        assert self.use(tasks.add).get_result(result.id).status == Status.READY
        self.drain()
        result.refresh()
        assert result.status == Status.SUCCESSFUL
        assert result.return_value == 5

    def test_a_finished_result_carries_its_times_arguments_and_worker(self) -> None:
        result = self.use(tasks.add).enqueue(2, y=3)
        self.drain()
        found = compat.task_backends[self.backend].get_result(result.id)
        assert found.task.func is tasks.add.func
        assert found.enqueued_at <= found.started_at <= found.finished_at
        assert found.last_attempted_at == found.started_at
        assert found.worker_ids and all(found.worker_ids)
        if found.args or found.kwargs:  # read from the row's message, where the row has one
            assert (found.args, found.kwargs) == ([2], {"y": 3})

    def test_a_failed_task_records_the_exception_class_path_and_traceback(self) -> None:
        result = self.use(tasks.fail).enqueue("boom")
        self.drain()
        result.refresh()
        assert result.status == Status.FAILED
        [error] = result.errors
        assert error.exception_class is ValueError
        assert "boom" in error.traceback
        with pytest.raises(ValueError):
            result.return_value  # noqa: B018 - the property raises for a failed task

    def test_an_async_task_runs(self) -> None:
        result = self.use(tasks.add_async).enqueue(20, 22)
        self.drain()
        result.refresh()
        assert result.return_value == 42

    def test_a_task_that_takes_context_sees_its_own_result(self) -> None:
        result = self.use(tasks.whoami).enqueue()
        self.drain()
        result.refresh()
        assert result.return_value == result.id

    def test_a_deferred_task_does_not_run_before_its_time(self) -> None:
        later = timezone.now() + timedelta(hours=1)
        result = self.use(tasks.add, run_after=later).enqueue(1, 1)
        self.drain()
        result.refresh()
        assert result.status == Status.READY

    def test_priorities_from_the_lowest_to_the_highest_are_accepted(self) -> None:
        for priority in (-100, 0, 100):
            result = self.use(tasks.add, priority=priority).enqueue(priority, 1)
            self.drain()
            result.refresh()
            assert result.return_value == priority + 1

    def test_enqueued_started_and_finished_signals_are_sent(self) -> None:
        seen: list[tuple[str, str, Any]] = []

        def receiver(name: str) -> Any:
            def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
                seen.append((task_result.id, name, task_result.status))

            return receive

        receivers = {name: receiver(name) for name in ("enqueued", "started", "finished")}
        compat.task_enqueued.connect(receivers["enqueued"])
        compat.task_started.connect(receivers["started"])
        compat.task_finished.connect(receivers["finished"])
        try:
            result = self.use(tasks.add).enqueue(1, 2)
            self.drain()
        finally:
            compat.task_enqueued.disconnect(receivers["enqueued"])
            compat.task_started.disconnect(receivers["started"])
            compat.task_finished.disconnect(receivers["finished"])
        # A task another test of this process left queued may run in the same drain: its own
        # signals are not this result's.
        assert [(name, status) for task_id, name, status in seen if task_id == result.id] == [
            ("enqueued", Status.READY),
            ("started", Status.RUNNING),
            ("finished", Status.SUCCESSFUL),
        ], (result.id, seen)

    def test_an_unknown_id_has_no_result(self) -> None:
        with pytest.raises(compat.TaskResultDoesNotExist):
            compat.task_backends[self.backend].get_result("no-such-id")
