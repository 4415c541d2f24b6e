"""The outbox relay: in order, marked sent only after the confirm, nothing lost."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select

from sandbox.messaging import OutgoingMessage, Publisher, UnconfirmedError
from sandbox.messaging.tools import drain
from sandbox.services.common.outbox import OutboxRelay, add_events
from tests.services.support import numbered_event


class FlakyPublisher:
    """Confirms everything except the message at ``fail_at`` on the first pass."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.published: list[str] = []
        self.passes = 0

    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> list[Exception | None]:
        self.passes += 1
        results: list[Exception | None] = []
        for i, message in enumerate(messages):
            self.published.append(message.message_id)
            if self.passes == 1 and i >= self.fail_at:
                results.append(UnconfirmedError("connection lost"))
            else:
                results.append(None)
        return results


def test_only_the_confirmed_prefix_is_marked_sent_and_the_rest_is_republished_in_order(outbox):
    engine, table = outbox
    events = [numbered_event(n) for n in range(10)]
    with engine.begin() as conn:
        add_events(conn, table, events, aggregate_id="pay")
    publisher = FlakyPublisher(fail_at=4)
    relay = OutboxRelay(engine, table, publisher)

    assert relay.run_once() == 4
    assert relay.pending() == 6
    assert relay.run_once() == 6
    assert relay.pending() == 0
    ids = [e.message_id for e in events]
    assert publisher.published == ids + ids[4:]


def test_rows_written_in_a_rolled_back_transaction_are_never_published(outbox):
    engine, table = outbox
    with pytest.raises(RuntimeError), engine.begin() as conn:
        add_events(conn, table, [numbered_event(1)], aggregate_id="pay")
        raise RuntimeError("state change failed")
    publisher = FlakyPublisher(fail_at=99)
    assert OutboxRelay(engine, table, publisher).run_once() == 0
    assert publisher.published == []


@pytest.mark.integration
def test_relay_publishes_every_event_in_order_with_its_envelope(
    outbox, sandbox_declared_vhost, sandbox_topology
):
    engine, table = outbox
    events = [numbered_event(n) for n in range(1200)]
    with engine.begin() as conn:
        add_events(conn, table, events, aggregate_id="pay")
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        relay = OutboxRelay(engine, table, publisher, batch_size=500)
        while relay.run_once():
            pass
    got = drain(sandbox_declared_vhost.url, "payment_events")
    assert [m.properties["message_id"] for m in got] == [e.message_id for e in events]
    assert got[7].properties["correlation_id"] == "corr-7"
    assert got[7].properties["type"] == "PAYMENT_COMPLETED"
    assert got[7].properties["app_id"] == "payment-service"
    with engine.connect() as conn:
        unsent = conn.execute(select(table.c.id).where(table.c.sent_at.is_(None))).all()
    assert unsent == []
