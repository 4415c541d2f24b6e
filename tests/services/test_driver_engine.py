"""Transactions on the driver (``driver.DriverEngine``), as the notifier's and the
appointment service's stores run them: the same rows, defaults, errors, locks and
doorbell rings as ``engine.begin()``, ``db.one_statement`` and ``db.reading``."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from sandbox.services.common.db import reading, sqlite_url
from sandbox.services.common.doorbell import DOORBELL_ENV, Doorbell
from sandbox.services.common.driver import DriverEngine
from sandbox.services.common.outbox import add_events
from tests.services.support import new_outbox, numbered_event, write_numbered_events

# the rows of ``select(table)`` built once, as the stores build theirs
_ALL = {}


def _all(table):
    return _ALL.setdefault(table, select(table).order_by(table.c.id))


def test_rows_written_on_the_driver_read_back_as_sqlalchemy_reads_them(outbox):
    engine, table = outbox
    driver = DriverEngine(engine)
    with driver.begin() as conn:
        add_events(conn, table, [numbered_event(1), numbered_event(2)], aggregate_id="agg")
    with driver.reading() as conn:
        on_driver = conn.execute(_all(table)).all()
    with engine.connect() as conn:
        through_sqlalchemy = conn.execute(_all(table)).all()
    assert [row._mapping for row in on_driver] == [dict(row._mapping) for row in through_sqlalchemy]
    first = on_driver[0]
    # a Python default (0), a server default (0) and the server's time, converted as
    # SQLAlchemy converts them (SQLite keeps times as text)
    assert (first.publish_attempts, first.refusals) == (0, 0)
    assert isinstance(first.created_at, datetime)
    assert first.routing_key == numbered_event(1).routing_key


def test_a_driver_error_is_sqlalchemys_and_carries_no_parameter(outbox):
    engine, table = outbox
    driver = DriverEngine(engine)
    event = numbered_event(1)
    with driver.begin() as conn:
        add_events(conn, table, [event], aggregate_id="agg")
    with pytest.raises(IntegrityError) as raised, driver.begin() as conn:
        add_events(conn, table, [event], aggregate_id="the-aggregate")  # the same message id
    assert "the-aggregate" not in str(raised.value)
    assert "parameters" not in str(raised.value)
    with driver.reading() as conn:
        assert len(conn.execute(_all(table)).all()) == 1


def test_a_failed_transaction_writes_nothing_and_the_next_writer_goes_on(outbox):
    engine, table = outbox
    driver = DriverEngine(engine)
    failed, next_one = numbered_event(1), numbered_event(2)
    with pytest.raises(RuntimeError), driver.begin() as conn:
        add_events(conn, table, [failed], aggregate_id="agg")
        raise RuntimeError("the business write failed")
    # on SQLite the write lock was let go: another writer commits at once
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            add_events(conn, table, [next_one], aggregate_id="agg")
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(5.0), "the next writer waited: the failed transaction kept its lock"
    with engine.connect() as conn:
        kept = [row.message_id for row in conn.execute(_all(table))]
    assert kept == [next_one.message_id]


def test_a_transaction_is_seen_by_others_only_once_committed(outbox):
    engine, table = outbox
    driver = DriverEngine(engine)
    with driver.begin() as conn:
        add_events(conn, table, [numbered_event(1)], aggregate_id="agg")
        with reading(engine) as other:
            assert other.execute(_all(table)).all() == []
    with reading(engine) as other:
        assert len(other.execute(_all(table)).all()) == 1


def test_a_read_on_sqlite_takes_no_lock_while_a_writer_holds_it(tmp_path):
    engine, table = new_outbox(sqlite_url(tmp_path / "svc.db"))
    driver = DriverEngine(engine)
    try:
        with engine.begin() as writer:  # holds the write lock until the end of the block
            add_events(writer, table, [numbered_event(1)], aggregate_id="agg")
            read = threading.Event()

            def reader() -> None:
                with driver.reading() as conn:
                    conn.execute(_all(table)).all()
                read.set()

            threading.Thread(target=reader, daemon=True).start()
            assert read.wait(5.0), "a read waited for the writer"
    finally:
        engine.dispose()


def test_connections_go_back_to_the_pool_as_it_handed_them_out(outbox):
    engine, table = outbox
    driver = DriverEngine(engine)
    with driver.one_statement() as conn:
        add_events(conn, table, [numbered_event(1)], aggregate_id="agg")
    with driver.reading() as conn:
        conn.execute(_all(table)).all()
    # the pool hands out the connection returned last first (PostgreSQL) or any: each
    # one of them must be out of autocommit and outside a transaction
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert not getattr(dbapi, "autocommit", False)
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_commit_with_events_on_the_driver_rings_the_doorbell(tmp_path, monkeypatch):
    bell = Doorbell("127.0.0.1", 0)
    host, port = bell.address
    monkeypatch.setenv(DOORBELL_ENV, f"{host}:{port}")
    engine, table = new_outbox(sqlite_url(tmp_path / "svc.db"))
    driver = DriverEngine(engine)
    try:
        with driver.reading() as conn:
            conn.execute(_all(table)).all()
        with pytest.raises(RuntimeError), driver.begin() as conn:
            add_events(conn, table, [numbered_event(1)], aggregate_id="agg")
            raise RuntimeError("rolled back")
        assert not bell.wait(0.3), "rang although no events were committed"
        with driver.one_statement() as conn:
            add_events(conn, table, [numbered_event(2)], aggregate_id="agg")
        assert bell.wait(5.0), "no ring after a commit on the driver that wrote events"
    finally:
        engine.dispose()
        bell.close()


def test_a_statement_built_at_every_call_still_runs_and_the_log_names_it(outbox, caplog):
    engine, table = outbox
    write_numbered_events(engine, table, 1)
    driver = DriverEngine(engine)
    driver.MAX_STATEMENTS = 3
    logger = "sandbox.services.common.driver"
    with caplog.at_level(logging.WARNING, logger=logger), driver.reading() as conn:
        counts = [len(conn.execute(select(table.c.id)).all()) for _ in range(5)]
    assert counts == [1] * 5
    assert len(driver._compiled) <= driver.MAX_STATEMENTS
    warned = [r.getMessage() for r in caplog.records if "built per call" in r.getMessage()]
    assert warned and "SELECT" in warned[0], caplog.text
