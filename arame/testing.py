"""Helpers for testing code that uses arame, shipped for users' own test suites.

Typical use with pytest::

    @pytest.fixture
    def app(tmp_path):
        reset_memory_transport()
        return arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/results.db")

    def test_signup_sends_the_email(app):
        result = signup(app, "ada@example.com")
        run_until_empty(app)
        assert result.get(timeout=5) is None
"""

from __future__ import annotations

from collections.abc import Sequence

from arame.app import App
from arame.transport import reset_memory_transport

__all__ = ["reset_memory_transport", "run_until_empty"]


def run_until_empty(app: App, queues: Sequence[str] | None = None, concurrency: int = 1) -> None:
    """Run a worker in this thread until the queues are empty, then return (no sleeping)."""
    app.worker(queues=queues, concurrency=concurrency, pool="thread", burst=True).run()
