"""Helpers for the tests of the shared service machinery."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, MetaData, Table

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage
from sandbox.services.common.db import make_engine
from sandbox.services.common.outbox import add_events, outbox_table


def new_outbox(url: str) -> tuple[Engine, Table]:
    """An engine on ``url`` and its outbox table, created."""
    engine = make_engine(url)
    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.create_all(engine)
    return engine, table


def write_events(
    engine: Engine, table: Table, events: Sequence[OutgoingMessage], aggregate_id: str = "agg"
) -> None:
    """Commit ``events`` to the outbox ``table`` as one aggregate's, as a service does."""
    with engine.begin() as conn:
        add_events(conn, table, events, aggregate_id=aggregate_id)


def numbered_event(n: int) -> OutgoingMessage:
    """The ``n``th of a run of ``payment.completed`` events, each of its own payment."""
    return OutgoingMessage.event(
        "payment.completed",
        example_body("payment.completed", paymentId=f"pay_{n}"),
        producer="payment-service",
        correlation_id=f"corr-{n}",
    )


def write_numbered_events(
    engine: Engine, table: Table, count: int, aggregate_id: str = "agg"
) -> list[OutgoingMessage]:
    """Commit events 0 to ``count - 1`` to the outbox ``table`` as one aggregate's."""
    events = [numbered_event(n) for n in range(count)]
    write_events(engine, table, events, aggregate_id)
    return events
