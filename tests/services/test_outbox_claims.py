"""The relay claims the rows it publishes: another relay leaves them, and each aggregate's
order, alone until the claim runs out; the same relay started again takes them back."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event, select

from sandbox.messaging import OutgoingMessage
from sandbox.services.common.db import sqlite_url
from sandbox.services.common.outbox import OutboxRelay, add_events
from sandbox.services.common.times import utc
from sandbox.waiting import wait_for
from tests.services.support import new_outbox, numbered_event, write_numbered_events
from tests.services.test_outbox_relay import FlakyPublisher


class HeldPublisher:
    """Holds ``publish_many`` until released, so a pass can be watched mid-publish."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.published: list[str] = []

    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> list[Exception | None]:
        self.entered.set()
        self.release.wait(30)
        self.published.extend(m.message_id for m in messages)
        return [None] * len(messages)

    @contextmanager
    def mid_publish(self, relay: OutboxRelay) -> Iterator[None]:
        """Run one pass of ``relay`` (publishing here) in a thread, held inside
        ``publish_many`` until the block ends."""
        thread = threading.Thread(target=relay.run_once, daemon=True)
        thread.start()
        try:
            assert self.entered.wait(10), "the relay never reached publish_many"
            yield
        finally:
            self.release.set()
            thread.join(10)


@contextmanager
def _held_mid_publish(
    engine, table, name: str, lease_s: float
) -> Iterator[tuple[OutboxRelay, HeldPublisher]]:
    """A relay ``name`` whose one pass is held inside ``publish_many`` for the block."""
    publisher = HeldPublisher()
    relay = OutboxRelay(engine, table, publisher, name=name, lease_s=lease_s)
    with publisher.mid_publish(relay):
        yield relay, publisher


def _claims(engine, table) -> dict[str, tuple[str | None, datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.message_id, table.c.claimed_by, table.c.claimed_until)
        ).all()
    return {
        r.message_id: (r.claimed_by, utc(r.claimed_until) if r.claimed_until else None)
        for r in rows
    }


def test_rows_being_published_are_claimed_by_the_relay_with_a_lease(outbox):
    engine, table = outbox
    events = write_numbered_events(engine, table, 3, aggregate_id="pay_1")
    with _held_mid_publish(engine, table, "payment-relay-0", lease_s=120) as (relay, publisher):
        claims = _claims(engine, table)
        now = datetime.now(UTC)
        for event in events:
            by, until = claims[event.message_id]
            assert by == "payment-relay-0"
            assert until is not None and 100 < (until - now).total_seconds() <= 120
    assert publisher.published == [e.message_id for e in events]
    assert relay.pending() == 0


def test_another_relay_leaves_claimed_rows_and_their_aggregates_later_rows_alone(outbox):
    engine, table = outbox
    write_numbered_events(engine, table, 2, aggregate_id="pay_a")
    with _held_mid_publish(engine, table, "relay-a", lease_s=120) as (relay_a, _):
        later_a = numbered_event(10)
        other = numbered_event(20)
        with engine.begin() as conn:
            add_events(conn, table, [later_a], aggregate_id="pay_a")
            add_events(conn, table, [other], aggregate_id="pay_b")
        publisher_b = FlakyPublisher(fail_at=10_000)
        relay_b = OutboxRelay(engine, table, publisher_b, name="relay-b")

        # B takes only the other aggregate: pay_a's later row waits behind A's claim
        assert relay_b.run_once() == 1
        assert publisher_b.published == [other.message_id]
        assert relay_b.run_once() == 0
    # A's rows are sent; now pay_a's later row is free for B, after them
    assert relay_b.run_once() == 1
    assert publisher_b.published == [other.message_id, later_a.message_id]
    assert relay_a.pending() == 0


def test_a_relay_started_again_takes_its_claims_back_and_others_wait_for_the_lease(outbox):
    engine, table = outbox
    events = write_numbered_events(engine, table, 3, aggregate_id="pay_1")
    # a relay that dies mid-batch: claimed, never confirmed, never marked
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            table.update().values(
                claimed_by="relay-a", claimed_until=now.replace(year=now.year + 1)
            )
        )

    stranger = FlakyPublisher(fail_at=10_000)
    assert OutboxRelay(engine, table, stranger, name="relay-b").run_once() == 0
    assert stranger.published == []

    again = FlakyPublisher(fail_at=10_000)
    assert OutboxRelay(engine, table, again, name="relay-a").run_once() == 3
    assert again.published == [e.message_id for e in events]


def test_a_claim_that_ran_out_is_taken_by_another_relay(outbox):
    engine, table = outbox
    events = write_numbered_events(engine, table, 2, aggregate_id="pay_1")
    # relay-a hangs mid-publish with its claims
    with _held_mid_publish(engine, table, "relay-a", lease_s=0.3):
        publisher = FlakyPublisher(fail_at=10_000)
        relay_b = OutboxRelay(engine, table, publisher, name="relay-b")
        wait_for(
            lambda: relay_b.run_once() == 2, timeout=10, what="relay-b takes the lapsed claims"
        )
        assert publisher.published == [e.message_id for e in events]


def _sqlite_steps(engine) -> list[int]:
    """A counter of the SQLite virtual machine's steps on every connection of ``engine``
    (in thousands)."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    @event.listens_for(engine, "connect")
    def _count(dbapi_connection, _record) -> None:
        dbapi_connection.set_progress_handler(tick, 1000)

    engine.dispose()  # connections made from now on count
    return steps


def test_an_idle_pass_costs_the_same_however_many_rows_were_sent_before(tmp_path):
    costs = []
    for sent_before in (100, 20_000):
        engine, table = new_outbox(sqlite_url(tmp_path / str(sent_before) / "svc.db"))
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    {
                        "message_id": f"m{n}",
                        "routing_key": "payment.completed",
                        "aggregate_id": f"pay_{n}",
                        "body": "{}",
                        "envelope": "{}",
                        "publish_attempts": 1,
                        "sent_at": now,
                    }
                    for n in range(sent_before)
                ],
            )
        steps = _sqlite_steps(engine)
        relay = OutboxRelay(engine, table, FlakyPublisher(fail_at=10_000))
        relay.run_once()  # warm: the pool's connection, the statements' compiled forms
        steps[0] = 0
        for _ in range(20):
            assert relay.run_once() == 0
        costs.append(steps[0])
        engine.dispose()
    # an index search: 200 times the rows, about the same work (a scan would be 200x)
    assert costs[1] <= costs[0] * 2 + 5, costs
