"""``db.write_together``: a transaction's writes made together, on PostgreSQL in one
statement; inserts into one table keep their order, updates reach only their key's row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, select

from sandbox.services.common import db
from sandbox.services.common.db import Write, create_schema, make_engine, sqlite_url
from tests.postgres import fresh_postgres_database

metadata = MetaData()
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(32), nullable=False),
    Column("text", String(64), nullable=False),
)
keys = Table(
    "keys",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("key", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("answer", String(64), nullable=True),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(sqlite_url(tmp_path / "writes.db"))
        create_schema(engine, metadata)
        yield engine
        engine.dispose()
        return
    with fresh_postgres_database("sandbox_writes") as url:
        engine = make_engine(url)
        create_schema(engine, metadata)
        yield engine
        engine.dispose()


def statements_of(engine: Engine) -> list[str]:
    """The SQL the engine sends from now on, one entry per execution."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    return seen


def test_writes_land_in_order_and_updates_touch_only_their_row(engine: Engine) -> None:
    with engine.begin() as conn:
        for tenant, key in (("t1", "k1"), ("t1", "k2"), ("t2", "k1")):
            conn.execute(keys.insert(), {"tenant_id": tenant, "key": key, "state": "new"})
    writes = [
        Write(entries, {"owner": "a", "text": "first"}),
        Write(keys, {"state": "done", "answer": "42"}, key={"tenant_id": "t1", "key": "k1"}),
        Write(entries, {"owner": "a", "text": "second"}),
        Write(entries, {"owner": "b", "text": "third"}),
        Write(keys, {"state": "linked"}, key={"tenant_id": "t2", "key": "k1"}),
    ]
    with engine.begin() as conn:
        db.write_together(conn, writes)
    with engine.connect() as conn:
        texts = conn.execute(select(entries.c.text).order_by(entries.c.id)).scalars().all()
        states = {
            (row.tenant_id, row.key): (row.state, row.answer) for row in conn.execute(select(keys))
        }
    assert texts == ["first", "second", "third"]
    assert states == {
        ("t1", "k1"): ("done", "42"),
        ("t1", "k2"): ("new", None),
        ("t2", "k1"): ("linked", None),
    }


def test_the_writes_are_one_statement_on_postgresql_one_per_group_on_sqlite(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        conn.execute(keys.insert(), {"tenant_id": "t1", "key": "k1", "state": "new"})
    seen = statements_of(engine)
    writes = [
        Write(entries, {"owner": "a", "text": "first"}),
        Write(entries, {"owner": "a", "text": "second"}),
        Write(keys, {"state": "done"}, key={"tenant_id": "t1", "key": "k1"}),
    ]
    with db.one_statement(engine) as conn:
        db.write_together(conn, writes)
    writing = [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    expected = 1 if engine.dialect.name == "postgresql" else 2  # SQLite: a group each
    assert len(writing) == expected, writing
    with engine.connect() as conn:
        assert conn.execute(select(entries.c.text).order_by(entries.c.id)).scalars().all() == [
            "first",
            "second",
        ]
        assert conn.execute(select(keys.c.state)).scalar_one() == "done"
