"""The flow-control tables are created once, however many stores open them at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path

from arame.coordination.flow_limits import LimitStore
from arame.results import ResultStore


def test_stores_racing_to_create_the_limit_tables_all_get_their_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8, timeout=30)

    def take() -> None:
        store = ResultStore(url)
        store.engine  # noqa: B018 - the results table first, as a worker has it
        barrier.wait()
        try:
            LimitStore(store).take_tokens("race", 100.0, 10, 1, 0.0)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)
        store.close()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
