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

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence

from arame.app import App
from arame.transport import reset_memory_transport

__all__ = ["immediate", "reset_memory_transport", "run_until_empty"]


@contextlib.contextmanager
def immediate(app: App, results: str | None = None) -> Iterator[App]:
    """Within the block, every task ``app`` publishes runs at once in the caller's thread.

    ``delay()`` returns a handle whose result is ready; no broker is touched. The rows go to a
    temporary SQLite file unless ``results`` names a database: a test that holds a transaction
    open on the app's own database (Django's ``TestCase`` on SQLite) would otherwise lock it.

    Args:
        app: the app whose tasks run immediately.
        results: where the rows go during the block (default: a temporary file, removed after).
    """
    was_immediate, old_results = app.immediate, app.results_url
    with contextlib.ExitStack() as stack:
        if results is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="arame-immediate-"))
            results = f"sqlite:///{os.path.join(folder, 'results.db')}"
        app.configure(results=results)
        stack.callback(app.configure, results=old_results)
        stack.callback(app.close_results)
        app.immediate = True
        try:
            yield app
        finally:
            app.immediate = was_immediate


def run_until_empty(app: App, queues: Sequence[str] | None = None, concurrency: int = 1) -> None:
    """Run a worker in this thread until the queues are empty, then return (no sleeping)."""
    app.worker(queues=queues, concurrency=concurrency, pool="thread", burst=True).run()
