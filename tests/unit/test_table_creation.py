"""A new results database opened by many stores at once: each of them opens it, every table made."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from arame.results import ResultStore
from arame.results.results_table import metadata


def test_stores_racing_to_open_a_new_results_database_all_open_it(tmp_path: Path) -> None:
    for attempt in range(10):
        url = f"sqlite:///{tmp_path / f'results-{attempt}.db'}"
        errors: list[BaseException] = []
        barrier = threading.Barrier(8, timeout=30)

        def open_store(
            url: str = url, errors: list[BaseException] = errors, barrier: threading.Barrier = barrier
        ) -> None:
            store = ResultStore(url)
            barrier.wait()
            try:
                store.engine  # noqa: B018 - creates the tables
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)
            finally:
                store.close()

        threads = [threading.Thread(target=open_store) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        engine = sa.create_engine(url)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
        engine.dispose()
