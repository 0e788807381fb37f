"""The FastAPI example, with its TestClient and the embedded worker, on SQLite and on Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from examples.fastapi import service


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def queue(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    results = f"sqlite:///{tmp_path}/results.db"
    broker = results if request.param == "sqlite" else "redis://127.0.0.1:6379/15"
    name = f"fastapi-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("REPORT_QUEUES", name)
    service.app.configure(broker=broker, results=results)
    yield name
    service.app.close()


def test_the_embedded_worker_runs_a_report_that_the_client_polls_by_id(queue: str) -> None:
    with TestClient(service.create_service()) as client:  # the lifespan starts and stops the worker
        task_id = client.post("/reports/2025", params={"queue": queue}).json()["task_id"]
        deadline = time.monotonic() + 20
        while (body := client.get(f"/reports/{task_id}").json())["state"] != "SUCCESS":
            assert time.monotonic() < deadline, body
            time.sleep(0.05)  # polling, as the page does
    assert body["result"] == {"year": 2025, "orders": 25}


def test_without_a_worker_the_service_only_publishes(queue: str) -> None:
    with TestClient(service.create_service(worker=False)) as client:
        task_id = client.post("/reports/1999", params={"queue": queue}).json()["task_id"]
        assert client.get(f"/reports/{task_id}").json()["state"] == "PENDING"
