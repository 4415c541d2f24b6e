"""Database engines and schemas: SQLite by default, PostgreSQL through ``DATABASE_URL``.

SQLite is shared by a service's web process and its relay process, so it runs in WAL
mode (readers never block the writer) with a busy timeout instead of failing at once
when the other process holds the write lock.  Every service keeps its tables in one
``MetaData`` and creates them with ``create_schema`` when a process starts.
"""

from __future__ import annotations

import zlib
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Row,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

from sandbox.services.common.times import utc

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created first."""
    url = normalise_url(url)
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock at BEGIN: two read-then-write transactions in different
            # processes would otherwise deadlock on the upgrade and one would fail.
            # Connections marked sqlite_deferred=True only read, and take no lock.
            if conn.get_execution_options().get("sqlite_deferred"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own transaction handling would issue a plain BEGIN first.
        @event.listens_for(engine, "connect", insert=True)
        def _no_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        _doorbell(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    _doorbell(engine)
    return engine


def _doorbell(engine: Engine) -> None:
    """Wake the outbox relay after commits that wrote events (``OUTBOX_DOORBELL``)."""
    from sandbox.services.common.doorbell import doorbell_address, ring_after_commits

    address = doorbell_address()
    if address is not None:
        ring_after_commits(engine, address)


def create_schema(engine: Engine, metadata: MetaData) -> None:
    """Create the missing tables; safe when several processes of a service start at once.

    SQLite's ``BEGIN IMMEDIATE`` makes the processes take turns; on PostgreSQL a
    transaction-scoped advisory lock, keyed by the tables' names, does the same.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(",".join(sorted(metadata.tables)).encode())
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        metadata.create_all(conn, checkfirst=True)


def from_row(cls: type[T], row: Any, **values: Any) -> T:
    """The dataclass ``cls`` from a row: each field from its column, unless in ``values``.

    Times come back aware (SQLite's naive ones are UTC, as written).
    """
    columns = row._mapping
    found = {
        f.name: columns[f.name]
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name in columns and f.name not in values
    }
    for name, value in found.items():
        if isinstance(value, datetime):
            found[name] = utc(value)
    return cls(**found, **values)


def to_row(record: Any, **values: Any) -> dict[str, Any]:
    """A dataclass's fields as column values, ``values`` added or replacing them."""
    return {f.name: getattr(record, f.name) for f in fields(record)} | values


def tenant_rows(table: Table, tenant_id: str, **equal: Any) -> list[ColumnElement[bool]]:
    """The tenant's rows whose columns equal every value given that is not None."""
    return [table.c.tenant_id == tenant_id] + [
        table.c[name] == value for name, value in equal.items() if value is not None
    ]


def page(
    conn: Connection,
    table: Table,
    where: list[ColumnElement[bool]],
    order_by: list[Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """One page of the rows matching ``where``, in ``order_by`` order, and how many match."""
    query = select(table).where(*where).order_by(*order_by).limit(limit).offset(offset)
    rows = list(conn.execute(query).all())
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    return rows, int(total)
