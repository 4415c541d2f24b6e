"""Idempotent consumers: processed message ids recorded with the state change.

A handler calls ``first_time(conn, table, consumer, message_id)`` inside the transaction
that applies the event.  It inserts the id and returns True the first time; for a
redelivered message the insert finds the id already there and does nothing, and the
handler skips the change and its events.
Because the insert and the state change commit together, there is no window in which
one is recorded without the other.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Insert,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)
from sqlalchemy.dialects import postgresql, sqlite


def inbox_table(metadata: MetaData, name: str = "processed_messages") -> Table:
    return Table(
        name,
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("message_id", String(128), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", "message_id"),
    )


@functools.cache
def _record(table: Table, dialect: str) -> Insert:
    """The inbox insert for ``table`` that does nothing when the id is there already,
    built once per table: SQLAlchemy reuses its compiled form, and building a statement
    costs more than running it.  One statement, so the check and the record cannot race."""
    key = ["consumer", "message_id"]
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    # RETURNING says whether a row went in (psycopg reports no row count here)
    return insert.on_conflict_do_nothing(index_elements=key).returning(table.c.message_id)


def first_time(conn: Connection, table: Table, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` for ``consumer``; False if it was recorded before."""
    record = _record(table, conn.dialect.name)
    row = {"consumer": consumer, "message_id": message_id, "processed_at": datetime.now(UTC)}
    return conn.execute(record, row).first() is not None
