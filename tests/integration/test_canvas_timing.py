"""``eta`` and ``expires`` on linked signatures, on each results database: as on apply_async."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import arame
from tests.integration.canvas_flow import TIMEOUT, Flow
from tests.integration.conftest import RESULTS_DATABASES, on_brokers
from tests.integration.test_canvas import join_after

pytestmark = on_brokers(RESULTS_DATABASES)


def test_a_callback_with_an_eta_does_not_start_before_it(flow: Flow) -> None:
    eta = datetime.now(UTC) + timedelta(seconds=1.5)
    with flow.worker():
        parent = flow.add.apply_async((1, 1), link=flow.mul.s(5).set(eta=eta))
        callback = flow.app.AsyncResult(join_after(flow, parent.id))

        assert callback.get(timeout=TIMEOUT) == 10
    row = flow.app.results.read(callback.id)
    assert row.message is not None and row.message.eta == eta.timestamp()
    assert row.started_at is not None and row.started_at >= eta


def test_a_callback_past_its_expiry_moment_reads_revoked_and_does_not_run(flow: Flow) -> None:
    lapsed = datetime.now(UTC) - timedelta(seconds=1)
    with flow.worker():
        parent = flow.add.apply_async((1, 1), link=flow.noted.s().set(expires=lapsed))
        callback = flow.app.AsyncResult(join_after(flow, parent.id))

        assert parent.get(timeout=TIMEOUT) == 2
        deadline = time.monotonic() + TIMEOUT
        while callback.state != arame.REVOKED:
            assert time.monotonic() < deadline, callback.state
            time.sleep(0.05)
    assert "noted" not in flow.attempts


def test_an_errback_with_a_relative_expiry_counts_it_from_its_firing_and_runs(flow: Flow) -> None:
    applied = time.time()
    with flow.worker():
        # apply_async's own expires and eta options, on a call with callbacks.
        failing = flow.flaky.apply_async(
            (1, "late-errback"),
            eta=datetime.now(UTC) + timedelta(seconds=1),
            expires=timedelta(minutes=5),
            link_error=flow.noted.s("errback").set(expires=30),
        )
        errback = flow.app.AsyncResult(join_after(flow, failing.id))

        assert errback.get(timeout=TIMEOUT) == [failing.id, "errback"]
    failed = flow.app.results.read(failing.id)
    assert failed.message is not None and failed.message.expires is not None
    assert failed.message.expires >= applied + 300
    assert failed.started_at is not None and failed.started_at.timestamp() >= applied + 1
    fired = flow.app.results.read(errback.id).message
    assert fired is not None and fired.expires is not None
    assert fired.expires >= failed.started_at.timestamp() + 30  # counted from the firing, not the call
