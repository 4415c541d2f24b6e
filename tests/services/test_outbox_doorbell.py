"""The relay's doorbell: writers ring it when a transaction with events commits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from sandbox.services.common.db import sqlite_url
from sandbox.services.common.doorbell import (
    DOORBELL_ENV,
    Doorbell,
    doorbell_addresses,
    own_doorbell,
)
from sandbox.services.common.outbox import OutboxRelay, add_events
from sandbox.waiting import wait_for
from tests.services.support import new_outbox, numbered_event
from tests.services.test_outbox_relay import FlakyPublisher


@pytest.fixture
def bell():
    doorbell = Doorbell("127.0.0.1", 0)
    yield doorbell
    doorbell.close()


@pytest.fixture
def rung_outbox(tmp_path, monkeypatch, bell):
    """A service engine configured, as the sandbox does, to ring ``bell``."""
    host, port = bell.address
    monkeypatch.setenv(DOORBELL_ENV, f"{host}:{port}")
    engine, table = new_outbox(sqlite_url(tmp_path / "svc.db"))
    yield engine, table
    engine.dispose()


def test_a_commit_with_events_rings_the_doorbell(rung_outbox, bell):
    engine, table = rung_outbox
    with engine.begin() as conn:
        add_events(conn, table, [numbered_event(1)], aggregate_id=None)

    assert bell.wait(5.0), "no ring after a commit that wrote events"


def test_commits_without_events_and_rollbacks_do_not_ring(rung_outbox, bell):
    engine, table = rung_outbox
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError), engine.begin() as conn:
        add_events(conn, table, [numbered_event(2)], aggregate_id=None)
        raise RuntimeError("the business write failed")

    assert not bell.wait(0.3), "rang although no events were committed"


def test_a_rung_relay_publishes_long_before_its_idle_pass(rung_outbox, bell):
    engine, table = rung_outbox
    publisher = FlakyPublisher(fail_at=10_000)
    # an idle pass far beyond the deadline: only the ring can explain a publish in time
    relay = OutboxRelay(engine, table, publisher, doorbell=bell, idle_poll_s=60)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: relay.stats.passes >= 1, timeout=5, what="the relay's first pass")
        with engine.begin() as conn:
            add_events(conn, table, [numbered_event(3)], aggregate_id=None)
        wait_for(lambda: publisher.published, timeout=5, what="the rung event published")
    finally:
        relay.stop()
        thread.join(5)
    assert not thread.is_alive(), "stop() did not wake the sleeping relay"
    assert len(publisher.published) == 1


def test_doorbell_addresses_parse_hosts_and_ports_and_reject_nonsense():
    assert doorbell_addresses("127.0.0.1:8013") == [("127.0.0.1", 8013)]
    assert doorbell_addresses("127.0.0.1:8013, :9000") == [
        ("127.0.0.1", 8013),
        ("127.0.0.1", 9000),
    ]
    assert doorbell_addresses("") == []
    with pytest.raises(ValueError, match=DOORBELL_ENV):
        doorbell_addresses("localhost:http")


def test_each_relay_replica_listens_on_the_doorbell_at_its_own_health_port():
    both = "127.0.0.1:8013,127.0.0.1:9013"
    assert own_doorbell(9013, both) == ("127.0.0.1", 9013)
    assert own_doorbell(8013, both) == ("127.0.0.1", 8013)
    assert own_doorbell(0, "127.0.0.1:8013") == ("127.0.0.1", 8013)
    assert own_doorbell(8013, "") is None
