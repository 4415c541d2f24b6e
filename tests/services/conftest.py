"""Fixtures for the shared service machinery: an outbox table in a fresh database, once
on SQLite and once on PostgreSQL (skipped where none answers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table

from sandbox.services.common.db import sqlite_url
from tests.postgres import fresh_postgres_database
from tests.services.support import new_outbox


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Table]]:
    if request.param == "sqlite":
        engine, table = new_outbox(sqlite_url(tmp_path / "svc.db"))
        yield engine, table
        engine.dispose()
        return
    with fresh_postgres_database("sandbox_outbox") as url:
        engine, table = new_outbox(url)
        yield engine, table
        engine.dispose()
