"""Database engines: SQLite by default, PostgreSQL through ``DATABASE_URL``.

SQLite is shared by a service's web process and its relay process, so it runs in WAL
mode (readers never block the writer) with a busy timeout instead of failing at once
when the other process holds the write lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


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
    url = normalise_url(url)
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
