"""Fixtures for the unit tests: an App on memory:// with its results in a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import arame
from arame.testing import reset_memory_transport


@pytest.fixture
def app(results_url: str) -> Iterator[arame.App]:
    """An App on an empty memory:// broker; closed afterwards."""
    reset_memory_transport()
    application = arame.App("unit", broker="memory://", results=results_url)
    yield application
    application.close()
    reset_memory_transport()
