"""Statements run on the driver's own connection (``sandbox.services.common.driver``), as
the outbox relay runs its claims and marks: the same rows and stored values as through
SQLAlchemy, a few compiled forms whatever the number of ids, and a connection that is
put back as it was found or dropped after a failure."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import DateTime, bindparam, select, update

from sandbox.services.common.db import sqlite_url
from sandbox.services.common.driver import (
    DriverConnection,
    DriverStatement,
    listed,
    listed_values,
)
from tests.services.support import new_outbox, write_numbered_events


def _ids(engine, table) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(table.c.id).order_by(table.c.id)).scalars())


def test_a_statement_on_the_driver_stores_what_sqlalchemy_would_and_returns_named_rows(outbox):
    engine, table = outbox
    write_numbered_events(engine, table, 3)
    first, second, third = _ids(engine, table)
    at = datetime(2026, 12, 7, 21, 0, 0, 123456, tzinfo=UTC)
    mark = (
        update(table)
        .where(table.c.id.in_(listed("ids", 2)))
        .values(claimed_by="relay-a", claimed_until=at)
        .returning(table.c.id, table.c.claimed_by)
    )
    statement = DriverStatement(engine, mark)
    connection = DriverConnection(engine)
    try:
        with connection.transaction() as cursor:
            rows = statement.run(cursor, listed_values("ids", [first, third]))
    finally:
        connection.close()
    assert sorted((row.id, row.claimed_by) for row in rows) == [
        (first, "relay-a"),
        (third, "relay-a"),
    ]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(table.c.id, table.c.claimed_until)).all())
    # read back through SQLAlchemy: the value as SQLAlchemy itself would have written it
    assert stored[first].replace(tzinfo=UTC) == at
    assert stored[third].replace(tzinfo=UTC) == at
    assert stored[second] is None


def test_a_list_of_ids_is_padded_to_the_next_power_of_two_and_finds_exactly_its_rows(outbox):
    engine, table = outbox
    write_numbered_events(engine, table, 40)
    ids = _ids(engine, table)
    assert list(listed_values("ids", ids[:3]).values()) == [*ids[:3], ids[2]]
    assert len(listed_values("ids", ids[:1])) == 1
    assert len(listed_values("ids", ids[:33])) == 64
    connection = DriverConnection(engine)
    try:
        for count in (1, 3, 33):
            values = listed_values("ids", ids[:count])
            query = select(table.c.id).where(table.c.id.in_(listed("ids", len(values))))
            with connection.reading() as cursor:
                rows = DriverStatement(engine, query).run(cursor, values)
            assert sorted(row.id for row in rows) == ids[:count]
    finally:
        connection.close()


def test_a_failed_transaction_drops_the_connection_and_the_next_takes_a_fresh_one(outbox):
    engine, table = outbox
    write_numbered_events(engine, table, 1)
    connection = DriverConnection(engine)
    try:
        with (
            pytest.raises(Exception, match=r"no such table|does not exist"),
            connection.transaction() as cursor,
        ):
            cursor.execute("UPDATE no_such_table SET x = 1")
        # on SQLite the file's write lock was let go: another writer gets in at once
        with engine.begin() as conn:
            conn.execute(update(table).values(claimed_by="someone-else"))
        with connection.transaction() as cursor:
            cursor.execute(f"UPDATE {table.name} SET claimed_by = 'relay-b'")
    finally:
        connection.close()
    with engine.connect() as conn:
        assert conn.execute(select(table.c.claimed_by)).scalar_one() == "relay-b"


def test_the_kept_connection_goes_back_to_the_pool_as_the_pool_handed_it_out(outbox):
    engine, table = outbox
    write_numbered_events(engine, table, 1)
    connection = DriverConnection(engine)
    with connection.transaction() as cursor:
        cursor.execute(f"UPDATE {table.name} SET claimed_by = 'relay-a'")
    connection.close()
    # the pool's next user gets a connection in a transaction of its own: a rollback
    # undoes its write, which it would not on a connection left in autocommit
    with engine.connect() as conn:
        conn.execute(update(table).values(claimed_by="undone"))
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(table.c.claimed_by)).scalar_one() == "relay-a"


def test_a_write_on_sqlite_holds_the_files_lock_until_it_commits(tmp_path):
    engine, table = new_outbox(sqlite_url(tmp_path / "svc.db"))
    connection = DriverConnection(engine)
    other = sqlite3.connect(tmp_path / "svc.db", timeout=0, isolation_level=None)
    try:
        with connection.transaction() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table.name}")
            # SQLite's own lock is taken at BEGIN IMMEDIATE: no other writer gets in
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # and let go at commit
        other.execute("ROLLBACK")
    finally:
        other.close()
        connection.close()
        engine.dispose()


def test_a_connection_idle_longer_than_the_pools_ping_is_checked_out_again(outbox, monkeypatch):
    engine, table = outbox
    connection = DriverConnection(engine)
    with connection.keeping():
        with connection.reading() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table.name}")
        first = connection._kept
        monkeypatch.setattr("sandbox.services.common.driver.IDLE_PING_S", -1.0)
        with connection.reading() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table.name}")
        assert connection._kept is not first


def test_uses_share_one_connection_only_while_kept(outbox):
    engine, table = outbox
    connection = DriverConnection(engine)
    with connection.reading() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table.name}")
    assert engine.pool.checkedout() == 0  # a use alone returns its connection
    with connection.keeping():
        for _ in range(2):
            with connection.reading() as cursor:
                cursor.execute(f"SELECT count(*) FROM {table.name}")
            assert engine.pool.checkedout() == 1
    assert engine.pool.checkedout() == 0


def test_values_of_the_lease_compare_as_sqlalchemys_do(outbox):
    """A claim written on the driver must compare with ``now`` as rows written through
    SQLAlchemy do (on SQLite, datetimes are strings compared as text)."""
    engine, table = outbox
    write_numbered_events(engine, table, 2)
    first, second = _ids(engine, table)
    now = datetime.now(UTC)
    lease = DriverStatement(
        engine,
        update(table)
        .where(table.c.id.in_(listed("ids", 1)))
        .values(claimed_until=bindparam("until", type_=DateTime(timezone=True))),
    )
    connection = DriverConnection(engine)
    try:
        with connection.transaction() as cursor:
            values = {**listed_values("ids", [first]), "until": now - timedelta(1)}
            lease.run(cursor, values)
    finally:
        connection.close()
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == second).values(claimed_until=now))
        expired = conn.execute(
            select(table.c.id).where(
                table.c.claimed_until < bindparam("now", now, type_=DateTime(timezone=True))
            )
        ).scalars()
        assert list(expired) == [first]
