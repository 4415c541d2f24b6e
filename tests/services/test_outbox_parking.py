"""Poison rows: parked with their reason, never retried for ever, never holding the rest back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select, update

from sandbox.health import http_status
from sandbox.messaging import (
    NackedError,
    OutgoingMessage,
    Publisher,
    UnconfirmedError,
    UnpublishableError,
    UnroutableError,
    check_encodable,
)
from sandbox.messaging.envelope import Envelope, valid_correlation_id
from sandbox.messaging.tools import drain
from sandbox.services.common.db import make_engine
from sandbox.services.common.outbox import OutboxRelay, first_release_columns, outbox_table
from tests.payment.support import fresh_database
from tests.services.support import numbered_event, write_events, write_numbered_events

# 64 "é" sent as UTF-8 in an HTTP header arrive as 128 latin-1 characters (WSGI), which
# are 256 bytes of UTF-8 again: one byte over AMQP's limit for short strings
POISON_ID = "é".encode().decode("latin-1") * 64


Verdict = Callable[[OutgoingMessage, int], Exception | None]


class ScriptedBroker:
    """Encodes every message as the real publisher does, then answers as ``verdict`` says
    (given the message and the pass number); records what it was given, in order."""

    def __init__(self, verdict: Verdict = lambda _m, _p: None) -> None:
        self.verdict = verdict
        self.passes = 0
        self.given: list[str] = []
        self.confirmed: list[str] = []

    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> list[Exception | None]:
        self.passes += 1
        results: list[Exception | None] = []
        for message in messages:
            self.given.append(message.message_id)
            try:
                check_encodable(message)
            except UnpublishableError as exc:
                results.append(exc)
                continue
            error = self.verdict(message, self.passes)
            if error is None:
                self.confirmed.append(message.message_id)
            results.append(error)
        return results


def _scripted_relay(
    engine, table, verdict: Verdict = lambda _m, _p: None, **relay_options: Any
) -> tuple[ScriptedBroker, OutboxRelay]:
    """A relay over ``table`` whose broker answers as ``verdict`` says."""
    broker = ScriptedBroker(verdict)
    return broker, OutboxRelay(engine, table, broker, **relay_options)


def _refusing_for(passes: int, error: Exception) -> Verdict:
    """A verdict that answers ``error`` on the first ``passes`` passes, then confirms."""
    return lambda _m, n: error if n <= passes else None


def _row(engine, table, message_id: str):
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.message_id == message_id)).one()


def _poisoned(n: int) -> OutgoingMessage:
    """An event whose correlation id no AMQP client can encode (written past the edge)."""
    good = numbered_event(n)
    return OutgoingMessage(
        good.routing_key,
        good.body,
        Envelope(
            message_id=good.message_id,
            correlation_id=POISON_ID,
            type=good.envelope.type,
            app_id=good.envelope.app_id,
        ),
    )


def _drain_relay(relay: OutboxRelay, passes: int = 20) -> None:
    """Run passes until nothing is pending (a pass that settles nothing may be a retry)."""
    for _ in range(passes):
        relay.run_once()
        if not relay.pending():
            return


def test_a_row_that_cannot_be_encoded_is_parked_at_once_and_the_rows_behind_it_go_out(outbox):
    engine, table = outbox
    before, poison, after = (
        numbered_event(1),
        _poisoned(2),
        [numbered_event(n) for n in range(3, 8)],
    )
    write_events(engine, table, [before, poison, *after])
    broker, relay = _scripted_relay(engine, table)

    assert relay.run_once() == 7

    assert broker.confirmed == [before.message_id] + [e.message_id for e in after]
    parked = _row(engine, table, poison.message_id)
    assert parked.parked_at is not None and parked.sent_at is None
    assert "correlation_id is 256 bytes" in parked.park_reason
    assert POISON_ID not in parked.park_reason  # the reason never repeats the value
    assert relay.pending() == 0
    assert relay.parked().count == 1
    assert relay.run_once() == 0, "a parked row was picked up again"


def test_a_row_that_does_not_make_a_message_is_parked_with_the_error_class(outbox):
    engine, table = outbox
    events = [numbered_event(1), numbered_event(2)]
    write_events(engine, table, events)
    with engine.begin() as conn:
        conn.execute(
            update(table).where(table.c.message_id == events[0].message_id).values(envelope="{")
        )
    broker, relay = _scripted_relay(engine, table)

    relay.run_once()

    assert broker.confirmed == [events[1].message_id]
    summary = relay.parked()
    assert summary.count == 1
    assert summary.latest is not None
    assert summary.latest["message_id"] == events[0].message_id
    assert summary.latest["reason"] == "the row does not make a message (JSONDecodeError)"


def test_a_refused_row_holds_the_rest_back_until_its_last_refusal_then_is_parked(outbox):
    engine, table = outbox
    refused, *later = [numbered_event(n) for n in range(4)]
    write_events(engine, table, [refused, *later])

    def nack_it(message: OutgoingMessage, _pass: int) -> Exception | None:
        return NackedError("broker nacked it") if message.message_id == refused.message_id else None

    broker, relay = _scripted_relay(engine, table, nack_it, max_refusals=3)

    for refusals in (1, 2):
        relay.run_once()
        row = _row(engine, table, refused.message_id)
        assert (row.refusals, row.parked_at) == (refusals, None)
        assert relay.pending() == 4, "rows behind a row still being retried were marked sent"
    relay.run_once()

    row = _row(engine, table, refused.message_id)
    assert row.refusals == 3
    assert row.park_reason == "refused by the broker 3 times, last: broker nacked it"
    assert relay.pending() == 0
    assert broker.given.count(refused.message_id) == 3


def test_unroutable_counts_as_a_refusal(outbox):
    engine, table = outbox
    event = numbered_event(1)
    write_events(engine, table, [event])
    _, relay = _scripted_relay(
        engine, table, lambda _m, _p: UnroutableError("no queue bound for 'x'"), max_refusals=2
    )

    _drain_relay(relay)

    assert "no queue bound" in _row(engine, table, event.message_id).park_reason


def test_a_row_refused_fewer_times_than_the_limit_is_sent_when_the_broker_takes_it(outbox):
    engine, table = outbox
    events = write_numbered_events(engine, table, 3)
    broker, relay = _scripted_relay(
        engine, table, _refusing_for(2, NackedError("nacked")), max_refusals=3
    )

    _drain_relay(relay)

    row = _row(engine, table, events[0].message_id)
    assert row.sent_at is not None and row.parked_at is None and row.refusals == 2
    assert relay.parked().count == 0
    assert broker.confirmed == [e.message_id for e in events]


def test_a_lost_connection_never_parks_however_often_it_happens(outbox):
    engine, table = outbox
    events = write_numbered_events(engine, table, 5)
    broker, relay = _scripted_relay(
        engine, table, _refusing_for(50, UnconfirmedError("connection lost")), max_refusals=1
    )

    for _ in range(50):
        assert relay.run_once() == 0
    assert relay.parked().count == 0
    assert relay.pending() == 5
    assert relay.run_once() == 5

    assert broker.confirmed == [e.message_id for e in events]
    row = _row(engine, table, events[0].message_id)
    assert (row.refusals, row.publish_attempts) == (0, 51)


def test_the_latest_parked_row_is_the_one_reported(outbox):
    engine, table = outbox
    first, second = _poisoned(1), _poisoned(2)
    write_events(engine, table, [first])
    relay = OutboxRelay(engine, table, ScriptedBroker())
    relay.run_once()
    write_events(engine, table, [second])
    relay.run_once()

    summary = relay.parked()
    assert summary.count == 2
    assert summary.latest is not None
    assert summary.latest["message_id"] == second.message_id


def _first_release_outbox(metadata: MetaData) -> Table:
    """The outbox table as the first release created it: no refusals, no parking."""
    return Table("outbox", metadata, *first_release_columns())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as database:
        yield database.url


def test_an_outbox_created_before_parking_existed_is_upgraded_and_keeps_its_rows(database_url):
    engine = make_engine(database_url)
    old_metadata = MetaData()
    old_table = _first_release_outbox(old_metadata)
    old_metadata.create_all(engine)
    old = numbered_event(1)
    write_events(engine, old_table, [old])

    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.create_all(engine)
    metadata.create_all(engine)  # a second process starting finds nothing left to do
    broker, relay = _scripted_relay(engine, table)

    assert relay.pending() == 1
    assert relay.run_once() == 1
    assert broker.confirmed == [old.message_id]
    write_events(engine, table, [_poisoned(2)])
    relay.run_once()
    assert relay.parked().count == 1
    engine.dispose()


@pytest.mark.parametrize(
    "value, valid",
    [
        ("flow-7d2c9e", True),
        ("!" * 128, True),
        ("!" * 129, False),
        ("", False),
        ("has space", False),
        ("tab\there", False),
        ("nul\x00", False),
        ("é", False),
        ("\x7f", False),
    ],
)
def test_correlation_id_rule(value, valid):
    assert valid_correlation_id(value) is valid


def test_health_answers_get_with_health_and_head_with_readiness():
    parked = {"status": "degraded", "ready": True}
    down = {"status": "degraded", "ready": False}
    assert (http_status(parked, "GET"), http_status(parked, "HEAD")) == (503, 200)
    assert (http_status(down, "GET"), http_status(down, "HEAD")) == (503, 503)
    assert http_status({"status": "ok"}, "HEAD") == 200


@pytest.mark.integration
def test_the_publisher_refuses_an_unencodable_message_at_once_and_confirms_the_rest(
    sandbox_declared_vhost, sandbox_topology
):
    good = [numbered_event(n) for n in range(3)]
    poison = _poisoned(9)
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        errors = publisher.publish_many([good[0], poison, *good[1:]], timeout=10)

    assert errors[0] is None and errors[2] is None and errors[3] is None
    assert isinstance(errors[1], UnpublishableError)
    got = drain(sandbox_declared_vhost.url, "payment_events")
    assert [m.properties["message_id"] for m in got] == [e.message_id for e in good]


@pytest.mark.integration
def test_a_relay_on_a_real_broker_parks_the_poison_row_and_publishes_the_rest_in_order(
    outbox, sandbox_declared_vhost, sandbox_topology
):
    engine, table = outbox
    good = [numbered_event(n) for n in range(6)]
    write_events(engine, table, [*good[:3], _poisoned(99), *good[3:]])
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        relay = OutboxRelay(engine, table, publisher, confirm_timeout_s=10)
        assert relay.run_once() == 7

    got = drain(sandbox_declared_vhost.url, "payment_events")
    assert [m.properties["message_id"] for m in got] == [e.message_id for e in good]
    assert relay.parked().count == 1
    assert relay.pending() == 0
