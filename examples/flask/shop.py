"""A small Flask service: a signup view publishes a welcome task that runs in the app context."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, request

from arame.flask import Arame

arame_ext = Arame()
SENT: list[str] = []  # stands in for an outbox


@arame_ext.task(name="shop.send_welcome")
def send_welcome(address: str) -> str:
    # Inside the Flask app context: current_app and its config are available, as in a request.
    line = f"{current_app.config['SHOP_NAME']} welcomes {address}"
    SENT.append(line)
    return line


def create_app(**config: Any) -> Flask:
    flask_app = Flask(__name__)
    flask_app.config.update(SHOP_NAME="Arame shop", **config)
    arame_ext.init_app(flask_app)

    @flask_app.post("/signup")
    def signup() -> Any:
        handle = send_welcome.delay(request.form["email"])
        return jsonify(task_id=handle.id), 202

    @flask_app.get("/tasks/<task_id>")
    def task_status(task_id: str) -> Any:
        handle = arame_ext.app.AsyncResult(task_id)
        return jsonify(state=handle.state, result=handle.result)

    return flask_app
