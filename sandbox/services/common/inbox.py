"""Idempotent consumers: processed message ids recorded with the state change.

A handler calls ``first_time(conn, table, consumer, message_id)`` inside the transaction
that applies the event.  It inserts the id and returns True the first time; for a
redelivered message the insert finds the id already there and does nothing, and the
handler skips the change and its events.
Because the insert and the state change commit together, there is no window in which
one is recorded without the other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from sandbox.services.common import db


def inbox_table(metadata: MetaData, name: str = "processed_messages") -> Table:
    return Table(
        name,
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("message_id", String(128), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", "message_id"),
    )


def first_time(conn: Connection, table: Table, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` for ``consumer``; False if it was recorded before."""
    row = {"consumer": consumer, "message_id": message_id, "processed_at": datetime.now(UTC)}
    return db.insert_if_new(conn, table, row)
