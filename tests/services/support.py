"""Helpers for the tests of the shared service machinery."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData, Table

from sandbox.services.common.db import make_engine, sqlite_url
from sandbox.services.common.outbox import outbox_table


def new_outbox(directory: Path) -> tuple[Engine, Table]:
    """An engine on ``directory/svc.db`` and its outbox table, created."""
    engine = make_engine(sqlite_url(directory / "svc.db"))
    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.create_all(engine)
    return engine, table
