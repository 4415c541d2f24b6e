"""Idempotent consumers: processed message ids recorded with the state change.

A handler calls ``first_time(conn, table, consumer, message_id)`` inside the transaction
that applies the event.  It inserts the id and returns True the first time; for a
redelivered message the insert finds the id already there and does nothing, and the
handler skips the change and its events.
Because the insert and the state change commit together, there is no window in which
one is recorded without the other.  On PostgreSQL a change that is one statement can
take the record as a ``WITH`` clause instead (``first_time_cte``), and runs in autocommit
with no transaction around it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.selectable import CTE

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


def first_time(conn: db.Executes, table: Table, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` for ``consumer``; False if it was recorded before."""
    return db.insert_if_new(conn, table, _record(consumer, message_id))


def _record(consumer: str, message_id: str) -> dict[str, Any]:
    return {"consumer": consumer, "message_id": message_id, "processed_at": datetime.now(UTC)}


# PostgreSQL: the record as a data-modifying ``WITH``, for a change that is one statement.
FIRST_TIME_PREFIX = "inbox_"


def first_time_cte(table: Table, name: str = "first_time") -> CTE:
    """PostgreSQL: ``first_time`` as a ``WITH`` clause ``name``, which yields one row when
    the id went in now and none for an id recorded before; a statement that selects from it
    changes nothing for a redelivered message.  Its values come from
    ``first_time_values``."""
    values = {c.name: bindparam(FIRST_TIME_PREFIX + c.name, type_=c.type) for c in table.c}
    return (
        postgresql.insert(table)
        .values(values)
        .on_conflict_do_nothing()
        .returning(table.c.message_id)
        .cte(name)
    )


def first_time_values(consumer: str, message_id: str) -> dict[str, Any]:
    """The values of ``first_time_cte``'s record."""
    return {FIRST_TIME_PREFIX + k: v for k, v in _record(consumer, message_id).items()}
