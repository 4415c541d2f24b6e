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


@pytest.mark.parametrize("taken", [False, True], ids=["key-free", "key-taken"])
def test_guarded_writes_happen_only_when_the_guard_wrote(engine: Engine, taken: bool) -> None:
    if taken:
        with engine.begin() as conn:
            conn.execute(keys.insert(), {"tenant_id": "t1", "key": "k1", "state": "old"})
    with engine.begin() as conn:
        conn.execute(keys.insert(), {"tenant_id": "t9", "key": "k9", "state": "new"})
    guard = db.new_row(keys, ("tenant_id", "key", "state"), engine.dialect.name)
    writes = [
        Write(entries, {"owner": "a", "text": "first"}),
        Write(entries, {"owner": "a", "text": "second"}),
        Write(keys, {"state": "linked"}, key={"tenant_id": "t9", "key": "k9"}),
    ]
    seen = statements_of(engine)
    with db.one_statement(engine) as conn:
        new = db.guard_params({"tenant_id": "t1", "key": "k1", "state": "new"})
        wrote = db.write_if(conn, guard, new, writes)
    assert wrote is not taken
    if engine.dialect.name == "postgresql":
        assert len(seen) == 1, seen
    with engine.connect() as conn:
        texts = conn.execute(select(entries.c.text).order_by(entries.c.id)).scalars().all()
        states = dict(conn.execute(select(keys.c.key, keys.c.state)).all())
    if taken:
        assert (texts, states) == ([], {"k1": "old", "k9": "new"})
    else:
        assert (texts, states) == (["first", "second"], {"k1": "new", "k9": "linked"})


def test_the_statements_are_ones_sqlalchemy_caches_compiled() -> None:
    """A statement without a cache key is compiled again at every execution (a multi-row
    VALUES is one): several times the cost of running it."""
    key = {"tenant_id": "t1", "key": "k1"}
    rows = [
        Write(entries, {"owner": "a", "text": "first"}),
        Write(entries, {"owner": "a", "text": "second"}),
        Write(keys, {"state": "done"}, key=key),
    ]
    shape = db._shape(db._grouped(rows))
    guard = db.new_row(keys, ("tenant_id", "key", "state"), "postgresql")
    for statement in (db._together(shape), db._guarded_together(guard, shape)):
        assert statement._generate_cache_key() is not None, statement
