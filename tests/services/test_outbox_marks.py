"""Held sent marks: a confirmed row's mark waits for the next pass's claim, which writes
it in the same statement (PostgreSQL) or transaction (SQLite); it is never published
again meanwhile, and a stopping relay writes what it holds."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, Table, select

from sandbox.services.common.doorbell import Doorbell
from sandbox.services.common.outbox import OutboxRelay
from sandbox.waiting import wait_for
from tests.services.support import numbered_event, write_events
from tests.services.test_outbox_relay import FlakyPublisher


def _sent(engine: Engine, table: Table) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.message_id, table.c.sent_at)).all()
    return {row.message_id: row.sent_at is not None for row in rows}


def test_a_held_mark_is_written_by_the_next_claim_and_the_row_not_published_again(outbox):
    engine, table = outbox
    publisher = FlakyPublisher(fail_at=10_000)
    relay = OutboxRelay(engine, table, publisher)
    first, second = numbered_event(1), numbered_event(2)

    write_events(engine, table, [first], aggregate_id="pay_1")
    assert relay.run_once(hold_marks=True) == 1
    assert _sent(engine, table) == {first.message_id: False}, "the mark was not held"
    assert relay.pending() == 0, "a confirmed row whose mark is held counted as pending"

    write_events(engine, table, [second], aggregate_id="pay_1")
    assert relay.run_once(look_first=False, hold_marks=True) == 1
    assert _sent(engine, table) == {first.message_id: True, second.message_id: False}

    assert relay.run_once(hold_marks=True) == 0  # nothing new: the held mark goes alone
    assert _sent(engine, table) == {first.message_id: True, second.message_id: True}
    assert publisher.published == [first.message_id, second.message_id]


def test_flush_marks_writes_the_held_marks_alone(outbox):
    engine, table = outbox
    relay = OutboxRelay(engine, table, FlakyPublisher(fail_at=10_000))
    events = [numbered_event(n) for n in range(3)]
    write_events(engine, table, events, aggregate_id="pay_1")
    assert relay.run_once(hold_marks=True) == 3

    relay.flush_marks()

    assert _sent(engine, table) == {e.message_id: True for e in events}


def test_a_pass_that_retries_writes_the_held_marks_with_its_own(outbox):
    engine, table = outbox
    publisher = FlakyPublisher(fail_at=1)  # on its first pass, only message 0 is confirmed
    relay = OutboxRelay(engine, table, publisher)
    held, confirmed, lost = (numbered_event(n) for n in range(3))
    write_events(engine, table, [held], aggregate_id="pay_1")
    publisher.passes = 1  # so that this pass confirms everything
    assert relay.run_once(hold_marks=True) == 1

    publisher.passes = 0  # and the next one loses its second message
    write_events(engine, table, [confirmed, lost], aggregate_id="pay_2")
    assert relay.run_once(look_first=False, hold_marks=True) == 1

    assert _sent(engine, table) == {
        held.message_id: True,
        confirmed.message_id: True,
        lost.message_id: False,
    }


def test_a_running_relay_marks_rows_soon_after_the_confirm_and_writes_held_marks_on_stop(
    outbox,
):
    engine, table = outbox
    bell = Doorbell("127.0.0.1", 0)
    publisher = FlakyPublisher(fail_at=10_000)
    # idle passes far beyond the deadlines: only the held-mark timer writes the first mark
    relay = OutboxRelay(engine, table, publisher, doorbell=bell, idle_poll_s=60, hold_marks_s=0.05)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        first = numbered_event(1)
        write_events(engine, table, [first], aggregate_id="pay_1")
        bell.ring()
        wait_for(
            lambda: _sent(engine, table) == {first.message_id: True},
            timeout=5,
            what="the held mark written alone once no ring came",
            seen=lambda: _sent(engine, table),
        )
        relay._hold_marks_s = 60  # from here a mark waits for the next ring, or the stop
        second = numbered_event(2)
        write_events(engine, table, [second], aggregate_id="pay_1")
        bell.ring()
        wait_for(lambda: len(publisher.published) == 2, timeout=5, what="the second event")
        assert _sent(engine, table)[second.message_id] is False
    finally:
        relay.stop()
        thread.join(5)
        bell.close()
    assert not thread.is_alive(), "stop() did not end the relay"
    assert _sent(engine, table) == {first.message_id: True, second.message_id: True}
    assert publisher.published == [first.message_id, second.message_id]
