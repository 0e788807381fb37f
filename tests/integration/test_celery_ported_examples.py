"""Celery's own example projects, ported (examples/celery-ported), run by a real worker process."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import arame
from tests.integration.conftest import FEATURE_BROKERS, on_brokers

pytestmark = on_brokers(FEATURE_BROKERS)

PORTED = Path(__file__).parents[2] / "examples" / "celery-ported"

#: (folder, module, calls as (task attribute, args, expected result))
EXAMPLES = [
    pytest.param("tutorial", "tasks", [("add", (2, 3), 5)], id="tutorial"),
    pytest.param("app", "myapp", [("add", (16, 16), 32)], id="app"),
    pytest.param(
        "next-steps",
        "proj.celery",
        [("proj.tasks.add", (4, 4), 8), ("proj.tasks.mul", (4, 4), 16), ("proj.tasks.xsum", ([1, 2, 3],), 6)],
        id="next-steps",
    ),
]


@pytest.fixture
def example_module(broker_kind: str) -> Iterator[Callable[[str, str], Any]]:
    if broker_kind == "memory":
        pytest.skip("memory:// queues live inside one process")
    added: list[str] = []

    def load(folder: str, module: str) -> Any:
        sys.path.insert(0, str(PORTED / folder))
        added.append(str(PORTED / folder))
        return importlib.import_module(module)

    yield load
    for path in added:
        sys.path.remove(path)
    for name in [n for n in sys.modules if n in {"tasks", "myapp"} or n.split(".")[0] == "proj"]:
        del sys.modules[name]


@pytest.mark.parametrize(("folder", "module", "calls"), EXAMPLES)
def test_a_ported_celery_example_runs_unchanged_but_for_its_import(
    example_module: Callable[[str, str], Any],
    broker_url: str,
    results_url: str,
    new_queue: Callable[[], str],
    folder: str,
    module: str,
    calls: list[tuple[str, tuple[Any, ...], Any]],
) -> None:
    loaded = example_module(folder, module)
    app: arame.App = loaded.app
    app.configure(broker=broker_url, results=results_url)  # the example names amqp://localhost
    app.import_included()  # include=['proj.tasks']: what a worker imports when it starts
    queue = new_queue()
    try:
        handles = []
        for attribute, args, expected in calls:
            task = app.tasks.get(attribute) or app.tasks[f"{module}.{attribute}"]
            handles.append((task.apply_async(args, queue=queue), expected))
        command = [sys.executable, "-m", "arame", "worker", f"{module}:app", "-Q", queue, "--burst"]
        command += ["--broker", broker_url, "--results", results_url]
        done = subprocess.run(
            command, check=False, cwd=PORTED / folder, capture_output=True, text=True, timeout=90
        )
        assert done.returncode == 0, done.stderr
        for handle, expected in handles:
            assert handle.get(timeout=30) == expected
    finally:
        app.close()
