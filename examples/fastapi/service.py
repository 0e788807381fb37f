"""A small FastAPI service: an embedded worker runs with the service; handlers get the App."""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI

import arame
from arame.fastapi import get_app, lifespan

app = arame.App("reports")


@app.task(name="reports.annual")
def annual_report(year: int) -> dict[str, int]:
    return {"year": year, "orders": year % 100}


def create_service(*, worker: bool = True) -> FastAPI:
    queues = os.environ.get("REPORT_QUEUES", "default").split(",")
    service = FastAPI(lifespan=lifespan(app, worker=worker, queues=queues, concurrency=2))

    @service.post("/reports/{year}", status_code=202)
    def create_report(year: int, queue: str = "default") -> dict[str, str]:
        return {"task_id": annual_report.apply_async((year,), queue=queue).id}

    @service.get("/reports/{task_id}")
    def report(task_id: str, tasks: arame.App = Depends(get_app)) -> dict[str, object]:  # noqa: B008
        handle = tasks.AsyncResult(task_id)
        return {"state": handle.state, "result": handle.result}

    return service
