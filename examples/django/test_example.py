"""Runs the example project's own tests (manage.py test) on SQLite and on Redis.

A subprocess: Django's settings are set once per process, and the suite's own Django site
already holds this one's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("broker", ["", pytest.param("redis://127.0.0.1:6379/15", marks=pytest.mark.redis)])
def test_the_django_example_passes_its_tests(broker: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARAME_", "DJANGO_"))}
    queue = f"example-{uuid.uuid4().hex[:8]}"
    env.update(EXAMPLE_BROKER_URL=broker, EXAMPLE_QUEUE=queue)
    done = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "1"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for left in HERE.glob(f"test-db-{queue}.sqlite3*"):  # SQLite's -wal and -shm outlive the file
        left.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stderr
