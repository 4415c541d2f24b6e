"""Database engines and schemas: SQLite by default, PostgreSQL through ``DATABASE_URL``.

SQLite is shared by a service's web process and its relay process, so it runs in WAL
mode (readers never block the writer) with a busy timeout instead of failing at once
when the other process holds the write lock.  Every service keeps its tables in one
``MetaData`` and creates them with ``create_schema`` when a process starts.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import Engine, MetaData, create_engine, event, text


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


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC: SQLite hands back naive datetimes, written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
