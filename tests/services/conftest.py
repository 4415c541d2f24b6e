"""Fixtures for the shared service machinery: an outbox table in a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table

from tests.services.support import new_outbox


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[tuple[Engine, Table]]:
    engine, table = new_outbox(tmp_path)
    yield engine, table
    engine.dispose()
