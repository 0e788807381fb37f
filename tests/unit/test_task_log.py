"""The worker logs one line per task: received at DEBUG, then how it ended (name, id, run time)."""

from __future__ import annotations

import logging
import re

import pytest

import arame
from arame.testing import run_until_empty

TASK_LOGGER = "arame.consumers.tasklog"


def test_each_task_logs_its_receipt_and_its_outcome_with_name_id_and_run_time(
    app: arame.App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(name="log.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="log.boom")
    def boom() -> None:
        raise ValueError("no luck")

    @app.task(name="log.again", max_retries=1, retry_jitter=False, retry_delay=0)
    def again() -> None:
        raise arame.Retry(countdown=0)

    ok, failed, retried, revoked = add.delay(1, 2), boom.delay(), again.delay(), add.delay(3, 4)
    revoked.revoke()
    with caplog.at_level(logging.DEBUG, logger=TASK_LOGGER):
        run_until_empty(app)

    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == TASK_LOGGER]
    assert ("DEBUG", f"task log.add[{ok.id}] received (attempt 1)") in lines
    assert any(re.fullmatch(rf"task log\.add\[{ok.id}\] succeeded in \d+\.\d{{3}}s", m) for _, m in lines)
    assert any(
        level == "WARNING"
        and re.fullmatch(rf"task log\.boom\[{failed.id}\] failed in \S+s: ValueError: no luck", m)
        for level, m in lines
    )
    assert any(
        level == "INFO" and m.startswith(f"task log.again[{retried.id}] retried after ") for level, m in lines
    )
    skipped = f"task log.add[{revoked.id}] not run: already finished, revoked or run by another copy"
    assert ("INFO", skipped) in lines
    assert retried.state == arame.FAILURE  # its second attempt ran and failed for good


def test_at_warning_level_a_successful_task_logs_nothing(
    app: arame.App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(name="log.add")
    def add(x: int, y: int) -> int:
        return x + y

    add.delay(1, 2)
    with caplog.at_level(logging.WARNING, logger=TASK_LOGGER):
        run_until_empty(app)

    assert [r for r in caplog.records if r.name == TASK_LOGGER] == []
