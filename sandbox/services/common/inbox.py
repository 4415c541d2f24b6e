"""Idempotent consumers: processed message ids recorded with the state change.

A handler calls ``first_time(conn, table, consumer, message_id)`` inside the transaction
that applies the event.  It inserts the id and returns True the first time; a redelivered
message finds its id already there and the handler skips the change and its events.
Because the insert and the state change commit together, there is no window in which
one is recorded without the other.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Insert,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    bindparam,
    select,
)


def inbox_table(metadata: MetaData, name: str = "processed_messages") -> Table:
    return Table(
        name,
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("message_id", String(128), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", "message_id"),
    )


class _Statements(NamedTuple):
    seen: Select[Any]
    record: Insert


@functools.cache
def _statements(table: Table) -> _Statements:
    """The inbox statements for ``table``, built once per table: SQLAlchemy reuses their
    compiled form, and building a statement costs more than running it."""
    seen = select(table.c.message_id).where(
        table.c.consumer == bindparam("consumer"), table.c.message_id == bindparam("message_id")
    )
    return _Statements(seen, table.insert())


def first_time(conn: Connection, table: Table, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` for ``consumer``; False if it was recorded before."""
    statements = _statements(table)
    key = {"consumer": consumer, "message_id": message_id}
    if conn.execute(statements.seen, key).first() is not None:
        return False
    conn.execute(statements.record, {**key, "processed_at": datetime.now(UTC)})
    return True
