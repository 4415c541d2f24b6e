"""A pooled PostgreSQL connection that sat idle is pinged before use, and replaced when
the server dropped it meanwhile (a restart, an idle timeout)."""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from sandbox.services.common import db
from tests.postgres import fresh_postgres_database


def test_a_connection_the_server_dropped_while_pooled_is_replaced_before_use(monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    with fresh_postgres_database("sandbox_ping") as url:
        engine = db.make_engine(url)
        try:
            with engine.connect() as conn:
                before = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (before,))
            with engine.connect() as conn:
                after = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            assert after != before
        finally:
            engine.dispose()
