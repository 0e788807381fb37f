"""Without the extras, or without asking for them, metrics and traces cost nothing and import nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arame.message import TaskMessage

PIPELINE = """
import sys
{block}
import arame, arame.testing

app = arame.App("off", broker="memory://", results=sys.argv[1])

@app.task
def add(x, y):
    return x + y

result = add.delay(2, 3)
worker = app.worker(concurrency=1, burst=True)
worker.start()
worker.join(30)
assert result.get(timeout=5) == 5
row = app.results.read(result.id)
assert row.trace_id is None and row.message.trace is None, row
extras = ("opentelemetry", "prometheus_client")
print(sorted(n for n, m in sys.modules.items() if m and n.split(".")[0] in extras))
"""


def run_pipeline(block: str, folder: Path) -> str:
    results = f"sqlite:///{folder}/results.db"
    done = subprocess.run(
        [sys.executable, "-c", PIPELINE.format(block=block), results],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.processes
def test_without_the_extras_a_task_runs_and_neither_library_is_imported(tmp_path: Path) -> None:
    # None in sys.modules is how Python spells "not installed" for find_spec and import.
    block = "sys.modules['opentelemetry'] = None; sys.modules['prometheus_client'] = None"
    assert run_pipeline(block, tmp_path) == "[]"


@pytest.mark.processes
def test_with_opentelemetry_installed_but_no_provider_no_trace_is_stored(tmp_path: Path) -> None:
    # (The pipeline asserts that no trace was stored; redis-py imports OpenTelemetry on its own.)
    assert "prometheus_client" not in run_pipeline("", tmp_path)


def test_a_trace_context_round_trips_and_is_written_only_when_set() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    message = TaskMessage("id1", "t", trace={"traceparent": parent, "tracestate": "k=v"})
    decoded = TaskMessage.from_body(message.to_body())
    assert decoded.trace == {"traceparent": parent, "tracestate": "k=v"}
    assert decoded.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert '"trace"' not in TaskMessage("id2", "t").to_body()


def test_a_malformed_trace_context_is_ignored_not_refused() -> None:
    for trace in ("junk", ["a"], {"traceparent": 7}):
        message = TaskMessage.from_body({"id": "x", "task": "t", "trace": trace})
        assert message.trace is None and message.trace_id is None
    assert TaskMessage("x", "t", trace={"traceparent": "nonsense"}).trace_id is None
