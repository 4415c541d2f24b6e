"""Helpers for the tests of the shared service machinery."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, MetaData, Table

from sandbox.messaging import OutgoingMessage
from sandbox.services.common.db import make_engine
from sandbox.services.common.outbox import add_events, outbox_table


def new_outbox(url: str) -> tuple[Engine, Table]:
    """An engine on ``url`` and its outbox table, created."""
    engine = make_engine(url)
    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.create_all(engine)
    return engine, table


def write_events(
    engine: Engine, table: Table, events: Sequence[OutgoingMessage], aggregate_id: str = "agg"
) -> None:
    """Commit ``events`` to the outbox ``table`` as one aggregate's, as a service does."""
    with engine.begin() as conn:
        add_events(conn, table, events, aggregate_id=aggregate_id)
