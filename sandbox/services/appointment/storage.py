"""The appointment service's tables and the only code that writes them.

Tables are prefixed ``appointment_`` so the three services can share one PostgreSQL
database.  Money is stored as decimal text (exact on every backend; SQLite has no
decimal type).  A state change, the ids of the messages that caused it and the events it
publishes are written in one transaction (``unit_of_work``), so none exists without the
others.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    true,
)

from sandbox.messaging import OutgoingMessage
from sandbox.services.appointment.rules import Appointment
from sandbox.services.common import columns, db, inbox, outbox
from sandbox.services.common.db import from_row, to_row
from sandbox.services.common.doorbell import note_written
from sandbox.services.common.driver import DriverEngine, DriverSession

metadata = MetaData()

appointments = Table(
    "appointment_appointments",
    metadata,
    Column("id", String(64), primary_key=True),
    columns.tenant_id(),
    Column("customer_id", String(128), nullable=False),
    *columns.customer(nullable=False),
    Column("service", String(200), nullable=False),
    Column("start_time", String(64), nullable=False),
    Column("price", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("payment_status", String(32), nullable=False),
    Column("payment_id", String(128), nullable=True),
    *columns.error(prefix="payment_"),
    Column("refunded_amount", String(32), nullable=True),
    Column("cancellation_reason", Text, nullable=True),
    columns.correlation_id(),
    *columns.timestamps(),
    Index("ix_appointment_appointments_tenant_created", "tenant_id", "created_at", "id"),
)

outbox_rows = outbox.outbox_table(metadata, "appointment_outbox")
processed = inbox.inbox_table(metadata, "appointment_processed_messages")

# Statements are built once, their values passed when they run: SQLAlchemy reuses their
# compiled form, and building a statement costs more than running it.
# FOR UPDATE on PostgreSQL: two consumers applying events to one appointment take turns.
# SQLite ignores it; its BEGIN IMMEDIATE already serialises writers.
_APPOINTMENT_FOR_UPDATE = (
    select(appointments).where(appointments.c.id == bindparam("id")).with_for_update()
)


@functools.cache
def _first_time_and_appointment() -> Any:
    """PostgreSQL: the message's id into the inbox, and the appointment locked, in one
    statement: always one row, ``first_time`` 1 when the id went in now (0 for an id
    recorded before), the appointment's columns NULL when there is none."""
    first = inbox.first_time_cte(processed)
    locked = _APPOINTMENT_FOR_UPDATE.subquery().lateral("appointment")
    one = select(literal_column("1").label("one")).subquery("one")
    fresh = select(func.count()).select_from(first).scalar_subquery().label("first_time")
    return select(fresh, *locked.c).select_from(one.outerjoin(locked, true())).add_cte(first)


_TENANT_APPOINTMENT = select(appointments).where(
    appointments.c.id == bindparam("id"), appointments.c.tenant_id == bindparam("tenant_id")
)
_OUTBOX_ROUTING_KEYS = (
    select(outbox_rows.c.routing_key)
    .where(outbox_rows.c.aggregate_id == bindparam("aggregate_id"))
    .order_by(outbox_rows.c.id)
)


def _to_appointment(row: Any) -> Appointment:
    refunded = Decimal(row.refunded_amount) if row.refunded_amount else None
    return from_row(Appointment, row, price=Decimal(row.price), refunded_amount=refunded)


def _to_row(appt: Appointment) -> dict[str, Any]:
    refunded = str(appt.refunded_amount) if appt.refunded_amount is not None else None
    return to_row(appt, price=str(appt.price), refunded_amount=refunded)


class UnitOfWork:
    """One transaction: appointments, processed message ids and outbox events together.

    What it reads (``first_time``, ``get``) runs at once, in the transaction its first
    read opens.  Its writes (``insert``, ``update``, ``publish``) wait for its end
    (``flush``) and go together, on PostgreSQL in one statement; a unit that reads
    nothing is that statement alone, with no transaction around it (``db.one_statement``).
    """

    def __init__(self, driver: DriverEngine, stack: ExitStack) -> None:
        self._driver = driver
        self._stack = stack
        self._conn: DriverSession | None = None
        self._writes: list[db.Write] = []
        self._events = False

    def _read(self) -> DriverSession:
        if self._conn is None:
            self._conn = self._stack.enter_context(self._driver.begin())
        return self._conn

    def first_time(self, consumer: str, message_id: str) -> bool:
        return inbox.first_time(self._read(), processed, consumer, message_id)

    def first_time_and_get(
        self, consumer: str, message_id: str, appointment_id: str
    ) -> tuple[bool, Appointment | None]:
        """``first_time`` and, when the message is new, ``get``; on PostgreSQL in one
        statement."""
        conn = self._read()
        if conn.dialect.name != "postgresql":
            if not inbox.first_time(conn, processed, consumer, message_id):
                return False, None
            return True, self.get(appointment_id)
        values = {"id": appointment_id, **inbox.first_time_values(consumer, message_id)}
        row = conn.execute(_first_time_and_appointment(), values).one()
        if not row.first_time:
            return False, None
        return True, _to_appointment(row) if row.id is not None else None

    def get(self, appointment_id: str) -> Appointment | None:
        """The appointment, its row locked until the transaction ends."""
        row = self._read().execute(_APPOINTMENT_FOR_UPDATE, {"id": appointment_id}).first()
        return _to_appointment(row) if row is not None else None

    def insert(self, appt: Appointment) -> None:
        self._writes.append(db.Write(appointments, _to_row(appt)))

    def update(self, appt: Appointment) -> None:
        values = _to_row(appt)
        key = {"id": values.pop("id")}
        self._writes.append(db.Write(appointments, values, key=key))

    def publish(self, messages: Sequence[OutgoingMessage], appointment_id: str) -> None:
        self._events = self._events or bool(messages)
        for table, row in outbox.event_rows(outbox_rows, messages, appointment_id):
            self._writes.append(db.Write(table, row))

    def flush(self) -> None:
        """Make the writes noted so far."""
        if not self._writes:
            return
        with ExitStack() as alone:
            conn = self._conn or alone.enter_context(self._driver.one_statement())
            if self._events:
                note_written(conn)
            db.write_together(conn, self._writes)
        self._writes = []
        self._events = False


@dataclass(frozen=True)
class Page:
    items: Sequence[Appointment]
    total: int


class AppointmentStore:
    """Reads, and transactions for writes, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # what every request and event runs goes on the database driver; pages with
        # filters go through SQLAlchemy
        self._driver = DriverEngine(engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with ExitStack() as stack:
            uow = UnitOfWork(self._driver, stack)
            yield uow
            uow.flush()

    def get(self, tenant_id: str, appointment_id: str) -> Appointment | None:
        with self._driver.reading() as conn:
            key = {"id": appointment_id, "tenant_id": tenant_id}
            row = conn.execute(_TENANT_APPOINTMENT, key).first()
        return _to_appointment(row) if row is not None else None

    def page(self, tenant_id: str, *, page: int, limit: int, status: str | None) -> Page:
        rows, total = db.newest_first(
            self.engine, appointments, tenant_id, page, limit=limit, status=status
        )
        return Page([_to_appointment(row) for row in rows], total)

    def outbox_events(self, appointment_id: str) -> list[str]:
        """Routing keys written for one appointment, oldest first (for tests and support)."""
        with db.reading(self.engine) as conn:
            rows = conn.execute(_OUTBOX_ROUTING_KEYS, {"aggregate_id": appointment_id})
            return [row.routing_key for row in rows]
