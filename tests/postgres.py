"""A PostgreSQL database of a test's own: created on the server the machine runs, dropped
after; the test skips, saying where it looked, when no PostgreSQL answers there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

# The server every machine and CI run: 127.0.0.1:5432, user postgres, trust auth.
SERVER = os.environ.get("SANDBOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)


def why_no_postgres() -> str | None:
    """None when the server answers, else what went wrong."""
    try:
        _admin().close()
    except psycopg.Error as exc:
        return f"no PostgreSQL answers at {SERVER} ({exc.__class__.__name__}: {exc})"
    return None


def skip_without_postgres() -> None:
    why = why_no_postgres()
    if why:
        pytest.skip(why)


@contextmanager
def fresh_postgres_database(prefix: str = "sandbox_test") -> Iterator[str]:
    """The URL of a new, empty database, dropped (its connections closed) afterwards."""
    skip_without_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{SERVER}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def tables(url: str) -> set[str]:
    """The names of the tables in ``url``'s public schema."""
    with psycopg.connect(url, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {row[0] for row in rows}
