"""The Flask example, with Flask's test client and a real worker, on SQLite and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from arame.testing import run_until_empty
from examples.flask import shop


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlaskClient]:
    results = f"sqlite:///{tmp_path}/results.db"
    broker = results if request.param == "sqlite" else "redis://127.0.0.1:6379/15"
    queue = f"flask-{uuid.uuid4().hex[:8]}"
    flask_app = shop.create_app(ARAME_BROKER_URL=broker, ARAME_RESULTS_URL=results, ARAME_DEFAULT_QUEUE=queue)
    yield flask_app.test_client()
    shop.arame_ext.app.close()


def test_a_signup_publishes_a_welcome_that_a_worker_sends_inside_the_app_context(client: FlaskClient) -> None:
    response = client.post("/signup", data={"email": "ada@example.com"})
    assert response.status_code == 202
    task_id = response.get_json()["task_id"]
    assert client.get(f"/tasks/{task_id}").get_json()["state"] == "PENDING"
    run_until_empty(shop.arame_ext.app, queues=[shop.arame_ext.app.default_queue])
    assert client.get(f"/tasks/{task_id}").get_json() == {
        "state": "SUCCESS",
        "result": "Arame shop welcomes ada@example.com",
    }


def test_an_unknown_arame_config_key_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="ARAME_NO_SUCH_OPTION"):
        shop.create_app(ARAME_NO_SUCH_OPTION=1)
