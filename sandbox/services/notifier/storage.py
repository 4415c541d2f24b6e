"""The notifier's tables and the only code that writes them.

- ``notifier_appointments``: a projection of ``appointment.*`` events (who to write to
  about an appointment), updated with the event's id in the same transaction (on
  PostgreSQL in the same statement); keyed by tenant and appointment id, so an event of
  one tenant never finds another tenant's customer;
- ``notifier_deliveries``: one row per (event id, channel) sent, the record that makes
  redeliveries skip what is done;
- ``notifier_notifications``: the audit log, one row per attempt, sent or failed, read
  one tenant at a time;
- ``notifier_outbox`` / ``notifier_processed_messages``: the shared outbox and inbox.

A sent notification's delivery row, audit row and ``notification.sent`` event commit
together.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    func,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql

from sandbox.messaging import OutgoingMessage
from sandbox.services.common import columns, db, inbox, outbox
from sandbox.services.common.db import from_row, to_row
from sandbox.services.common.doorbell import note_written
from sandbox.services.common.driver import DriverEngine
from sandbox.services.common.times import utc_now
from sandbox.services.notifier.rendering import AppointmentFacts

metadata = MetaData()


def _sent(*, recipient_known: bool) -> tuple[Column[str], Column[str], Column[str]]:
    """``channel``, ``template`` and ``recipient``: what was sent, or tried, and to whom (a
    failed attempt may not have known whom)."""
    return (
        Column("channel", String(16), nullable=False),
        Column("template", String(100), nullable=False),
        Column("recipient", String(2048), nullable=not recipient_known),
    )


appointments = Table(
    "notifier_appointments",
    metadata,
    columns.tenant_id(),
    Column("appointment_id", String(128), nullable=False),
    *columns.customer(nullable=True),
    Column("service", String(200), nullable=True),
    Column("start_time", String(64), nullable=True),
    columns.moment("updated_at"),
    PrimaryKeyConstraint("tenant_id", "appointment_id"),
)

deliveries = Table(
    "notifier_deliveries",
    metadata,
    Column("event_id", String(255), nullable=False),
    *_sent(recipient_known=True),
    Column("email_message_id", String(255), nullable=True),
    columns.moment("delivered_at"),
    PrimaryKeyConstraint("event_id", "channel"),
)

notifications = Table(
    "notifier_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False, index=True),
    Column("routing_key", String(128), nullable=False),
    columns.correlation_id(index=True),
    columns.tenant_id(nullable=True),
    Column("appointment_id", String(128), nullable=True),
    Column("payment_id", String(128), nullable=True),
    *_sent(recipient_known=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    *columns.error(),
    Column("email_message_id", String(255), nullable=True),
    columns.moment("created_at"),
    Index("notifier_notifications_tenant", "tenant_id", "id"),
)

outbox_rows = outbox.outbox_table(metadata, "notifier_outbox")
processed = inbox.inbox_table(metadata, "notifier_processed_messages")

PROJECTION_CONSUMER = "notifier-service/appointment-projection"

# Statements are built once, their values passed when they run: SQLAlchemy reuses their
# compiled form, and building a statement costs more than running it.
# Key parameters are named apart from the columns, whose names carry the values written.
_PROJECTION_KEY = (
    appointments.c.tenant_id == bindparam("key_tenant_id"),
    appointments.c.appointment_id == bindparam("key_appointment_id"),
)
_PROJECTION = select(appointments).where(*_PROJECTION_KEY)
_DELIVERED_CHANNELS = select(deliveries.c.channel).where(
    deliveries.c.event_id == bindparam("event_id")
)
_FACTS = [f.name for f in fields(AppointmentFacts)]
# the event's delivered channels and its appointment's facts in one round trip: a
# delivery row has a channel (never NULL), the projection's row has none
_PROGRESS = union_all(
    _DELIVERED_CHANNELS.add_columns(*(null().label(name) for name in _FACTS)),
    select(null().label("channel"), *(appointments.c[name] for name in _FACTS)).where(
        *_PROJECTION_KEY
    ),
)


@functools.cache
def _upsert_projection(dialect: str) -> Any:
    """The appointment's row with the facts given; a fact an event leaves out (None)
    keeps the value an earlier event gave it.  One statement, on either database."""
    return _upsert(db.insert_for(dialect)(appointments))


def _upsert(statement: Any) -> Any:
    """``statement``, an INSERT into ``appointments``, merging into the row it meets."""
    facts = [f.name for f in fields(AppointmentFacts)]
    kept = {name: func.coalesce(statement.excluded[name], appointments.c[name]) for name in facts}
    return statement.on_conflict_do_update(
        index_elements=[appointments.c.tenant_id, appointments.c.appointment_id],
        set_={**kept, "updated_at": statement.excluded.updated_at},
    )


@functools.cache
def _project_first_time() -> Any:
    """PostgreSQL: the event's id into the inbox and, only when it went in, the upsert of
    the projection, as one statement (the transaction's BEGIN and COMMIT round trips cost
    more than its rows).  It returns a row when the event was applied now."""
    first = inbox.first_time_cte(processed)
    names = [c.name for c in appointments.c]
    values = select(*(bindparam(n, type_=appointments.c[n].type) for n in names)).select_from(first)
    statement = postgresql.insert(appointments).from_select(names, values).add_cte(first)
    return _upsert(statement).returning(appointments.c.appointment_id)


@dataclass(frozen=True)
class Progress:
    """Where an event's notifications stand when it is handled (again): the channels
    already delivered for it and, when asked for, what its tenant's ``appointment.*``
    events said about its appointment."""

    delivered: frozenset[str]
    facts: AppointmentFacts | None = None


@dataclass(frozen=True)
class Attempt:
    """One notification attempt, as the audit log records it."""

    event_id: str
    routing_key: str
    correlation_id: str | None
    tenant_id: str | None
    appointment_id: str | None
    payment_id: str | None
    channel: str
    template: str
    recipient: str | None
    status: str  # "sent" or "failed"
    attempt: int
    created_at: datetime
    error_code: str | None = None
    error_message: str | None = None
    email_message_id: str | None = None


class NotifierStore:
    """The notifier's reads and writes.  What every event runs goes on the database
    driver (``driver.DriverEngine``); the audit log's filtered pages go through
    SQLAlchemy."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._driver = DriverEngine(engine)

    # -- appointment projection ----------------------------------------------------

    def project_appointment(
        self, message_id: str, appointment_id: str, tenant_id: str, facts: AppointmentFacts
    ) -> bool:
        """Remember ``facts`` about a tenant's appointment; False if this event was applied
        before."""
        row = to_row(facts, tenant_id=tenant_id, appointment_id=appointment_id)
        if self.engine.dialect.name == "postgresql":
            values = {**row, "updated_at": utc_now()}
            values |= inbox.first_time_values(PROJECTION_CONSUMER, message_id)
            with self._driver.one_statement() as conn:
                return conn.execute(_project_first_time(), values).first() is not None
        with self._driver.begin() as conn:
            if not inbox.first_time(conn, processed, PROJECTION_CONSUMER, message_id):
                return False
            conn.execute(_upsert_projection(conn.dialect.name), {**row, "updated_at": utc_now()})
        return True

    def appointment(self, tenant_id: str, appointment_id: str) -> AppointmentFacts | None:
        """What the tenant's ``appointment.*`` events said about the appointment."""
        key = {"key_tenant_id": tenant_id, "key_appointment_id": appointment_id}
        with self._driver.reading() as conn:
            row = conn.execute(_PROJECTION, key).first()
        return None if row is None else from_row(AppointmentFacts, row)

    # -- deliveries and audit --------------------------------------------------------

    def progress(self, event_id: str, appointment: tuple[str, str] | None = None) -> Progress:
        """The channels the event's notifications were already delivered on and, with
        ``appointment`` (tenant id, appointment id), that appointment's facts: one read."""
        with self._driver.reading() as conn:
            if appointment is None:
                rows = conn.execute(_DELIVERED_CHANNELS, {"event_id": event_id}).all()
            else:
                key = {"key_tenant_id": appointment[0], "key_appointment_id": appointment[1]}
                rows = conn.execute(_PROGRESS, {"event_id": event_id, **key}).all()
        delivered = frozenset(row.channel for row in rows if row.channel is not None)
        facts = [from_row(AppointmentFacts, row) for row in rows if row.channel is None]
        return Progress(delivered, facts[0] if facts else None)

    def record_sent(self, attempt: Attempt, event: OutgoingMessage) -> None:
        """The delivery, its audit row and ``notification.sent``, in one transaction."""
        delivery = {
            "event_id": attempt.event_id,
            "channel": attempt.channel,
            "template": attempt.template,
            "recipient": attempt.recipient or "",
            "email_message_id": attempt.email_message_id,
            "delivered_at": attempt.created_at,
        }
        self._insert(attempt, [(deliveries, delivery)], event)

    def record_failed(self, attempt: Attempt, event: OutgoingMessage | None) -> None:
        """The failed attempt's audit row, and ``notification.failed`` when it was the last."""
        self._insert(attempt, [], event)

    def _insert(
        self,
        attempt: Attempt,
        rows: list[tuple[Table, dict[str, Any]]],
        event: OutgoingMessage | None,
    ) -> None:
        """``rows``, the attempt's audit row and ``event`` in the outbox, together: on
        PostgreSQL one statement (a sent notification costs three rows, and its
        transaction's round trips cost more than the rows)."""
        rows = [*rows, (notifications, to_row(attempt))]
        if event is not None:
            rows += outbox.event_rows(outbox_rows, [event], aggregate_id=attempt.event_id)
        with self._driver.one_statement() as conn:
            if event is not None:
                note_written(conn)
            db.write_together(conn, [db.Write(table, row) for table, row in rows])

    def notifications(
        self,
        tenant_id: str,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[Sequence[Attempt], int]:
        """The tenant's audit rows matching every given filter, oldest first, and how many
        match."""
        n = notifications
        where = db.tenant_rows(
            n,
            tenant_id,
            correlation_id=correlation_id,
            event_id=event_id,
            channel=channel,
            status=status,
        )
        with db.reading(self.engine) as conn:
            rows, total = db.page(conn, n, where, [n.c.id], limit=limit, offset=offset)
        return [from_row(Attempt, row) for row in rows], total
