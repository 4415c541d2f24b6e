"""Storage of the payment service: the only module (with ``storage_requests``) writing SQL.

``Storage`` reads; ``Storage.begin()`` opens one transaction as a ``Tx`` whose methods
change payments and refunds, write their events into the outbox and their timeline
entries.  A state change, its events and its timeline entries always commit together.

Every change of status is a move of the state machine (``Tx.apply``, ``model.TRANSITIONS``),
guarded in SQL as well: when two paths race (the card flow's answer and the provider's
webhook for the same intent), exactly one applies the change and emits its event; the
other sees it already done.

Statements are built once, at import or once per shape (``_guarded_update``), with
``bindparam`` placeholders, and rows travel as execute parameters: SQLAlchemy then reuses
their compiled form, and building a statement costs more CPU than running it.  In UPDATE
statements the WHERE placeholders are named ``match_<column>``: a placeholder named after
a column of the updated table is reserved for that column's SET value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Engine,
    Select,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from sandbox.messaging import OutgoingMessage
from sandbox.services.common import db
from sandbox.services.common import outbox as outbox_module
from sandbox.services.common.db import from_row, to_row
from sandbox.services.common.doorbell import note_written
from sandbox.services.common.driver import DriverEngine, DriverSession
from sandbox.services.payment import model, tables
from sandbox.services.payment.model import Customer, Payment, Refund


class DuplicateBooking(Exception):
    """The booking already has a payment that holds it."""


def _payment(row: Any) -> Payment:
    return from_row(
        Payment,
        row,
        amount_minor=int(row.amount_minor),
        refunded_minor=int(row.refunded_minor or 0),
        retryable=bool(row.retryable),
        customer=Customer(row.customer_email, row.customer_name),
    )


def _refund(row: Any) -> Refund:
    return from_row(Refund, row, amount_minor=int(row.amount_minor))


@functools.cache
def _standing_in(states: tuple[str, ...]) -> ColumnElement[bool]:
    """SQL that holds while a payment row stands in one of the machine's ``states``."""
    where = []
    for state in states:
        status, retryable, flow = model.STATE_FIELDS[state]
        clause = _P.c.status == status
        if retryable is not None:
            clause = and_(clause, _P.c.retryable.is_(retryable))
        if flow is not None:
            clause = and_(clause, _P.c.flow == flow)
        where.append(clause)
    return or_(*where)


def _lock(payment: Payment) -> str | None:
    return payment.booking_id if model.holds_booking(payment.status, payment.retryable) else None


_P = tables.payments
_R = tables.refunds
_T = tables.timeline
_C = tables.cancel_requests

# Built once (see the module doc): their compiled form is reused.
_PAYMENT_BY_ID = select(_P).where(_P.c.id == bindparam("id"))
_PAYMENT_BY_ID_LOCKED = _PAYMENT_BY_ID.with_for_update()  # a row lock on PostgreSQL
_TENANT_PAYMENT_BY_ID = select(_P).where(
    _P.c.id == bindparam("id"), _P.c.tenant_id == bindparam("tenant_id")
)
_PAYMENT_BY_INTENT = select(_P).where(_P.c.provider_intent_id == bindparam("intent_id"))
_BOOKING_HOLDER = select(_P).where(
    _P.c.tenant_id == bindparam("tenant_id"), _P.c.booking_lock == bindparam("booking_id")
)

_RESERVED_MINOR = select(func.coalesce(func.sum(_R.c.amount_minor), 0)).where(
    _R.c.payment_id == bindparam("payment_id"),
    # not ``in_``: a literal list is an expanding parameter, which the driver cannot run
    or_(_R.c.status == "pending", _R.c.status == "succeeded"),
)
_INSERT_REFUND = _R.insert()
_REFUND_BY_ID = select(_R).where(_R.c.id == bindparam("id"))
_SETTLE_REFUND = (
    update(_R)
    .where(_R.c.id == bindparam("match_id"))
    .values(
        status=bindparam("status"),
        provider_refund_id=bindparam("provider_refund_id"),
        updated_at=bindparam("updated_at"),
    )
)

_TIMELINE_OF = select(_T).where(_T.c.payment_id == bindparam("payment_id")).order_by(_T.c.id)

_FORGET_CANCEL_REQUEST = _C.delete().where(_C.c.payment_id == bindparam("payment_id"))
_INSERT_CANCEL_REQUEST = _C.insert()
_CANCEL_REASON = select(_C.c.reason).where(_C.c.payment_id == bindparam("payment_id"))

# Columns a transition may change besides status and retryable, which the state machine
# sets (everything but identity and amounts).
_MUTABLE = frozenset(
    {
        "provider_intent_id",
        "card_brand",
        "card_last4",
        "error_code",
        "error_message",
        "processed_at",
        "refunded_minor",
    }
)
# What a transition sets besides ``changes`` (``Tx.apply``).
_MOVED = ("status", "retryable", "updated_at", "booking_lock")


@functools.cache
def _guarded_update(sources: tuple[str, ...], changed: frozenset[str]) -> Update:
    """``Tx.apply``'s compare-and-set: set ``_MOVED`` and the ``changed`` columns of the
    payment ``match_id`` while it stands in one of the machine's ``sources``; a guard
    (``db.write_if``), its values from ``db.guard_params``."""
    columns = sorted(_MOVED + tuple(changed))
    return (
        update(_P)
        .where(_P.c.id == bindparam(db.GUARD + "match_id"), _standing_in(sources))
        .values({name: bindparam(db.GUARD + name, type_=_P.c[name].type) for name in columns})
        .returning(_P.c.id)
    )


class Tx:
    """One open transaction.  Its writes whose outcome nothing reads in it (timeline
    entries, outbox events, request bookkeeping: ``write``) wait for its end (``flush``),
    and go together, on PostgreSQL in one statement.

    A transaction opened by ``Storage.begin_one_statement`` reads nothing: its one guarded
    write (``insert_payment`` or ``apply``, which may find their row taken or moved) waits
    for the end as well, and the other writes happen only if it wrote (``applied``, known
    when the transaction has ended); on PostgreSQL the whole of it is one statement.
    """

    def __init__(self, conn: DriverSession, *, one_statement: bool = False) -> None:
        self.conn = conn
        self.applied = True
        self._writes: list[db.Write] = []
        self._one_statement = one_statement
        self._guard: tuple[Any, dict[str, Any]] | None = None
        self._when_applied: list[Callable[[], None]] = []

    def write(self, write: db.Write) -> None:
        """Make ``write`` when the transaction ends, before it commits."""
        self._writes.append(write)

    def when_applied(self, then: Callable[[], None]) -> None:
        """Call ``then`` once the transaction has committed, if its guarded write wrote."""
        self._when_applied.append(then)

    def flush(self) -> None:
        """Make the writes noted so far."""
        if self._guard is not None:
            statement, params = self._guard
            self.applied = db.write_if(self.conn, statement, params, self._writes)
            self._guard = None
        elif self._writes:
            db.write_together(self.conn, self._writes)
        self._writes = []

    def committed(self) -> None:
        if self.applied:
            for then in self._when_applied:
                then()

    def _at_once(self) -> DriverSession:
        """The connection, for a statement that runs now."""
        if self._one_statement:
            raise RuntimeError("a transaction made as one statement runs nothing before it ends")
        return self.conn

    def _guarded(self, statement: Any, params: dict[str, Any]) -> bool:
        """Run a write that returns its row when it wrote (a guard: ``db.write_if``, its
        values by column name in ``params``): now, and whether it wrote; or,
        in a transaction made as one statement, at its end (True now; ``applied`` then)."""
        params = db.guard_params(params)
        if not self._one_statement:
            return self.conn.execute(statement, params).first() is not None
        if self._guard is not None:
            raise RuntimeError("a transaction made as one statement has one guarded write")
        self._guard = (statement, params)
        return True

    # -- payments ------------------------------------------------------------------

    def get_payment(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        query = _PAYMENT_BY_ID_LOCKED if lock else _PAYMENT_BY_ID
        row = self._at_once().execute(query, {"id": payment_id}).first()
        return _payment(row) if row is not None else None

    def insert_payment(self, payment: Payment) -> None:
        """Insert a new payment; DuplicateBooking when its booking is already held (in a
        transaction made as one statement: not ``applied``)."""
        values = to_row(
            payment,
            booking_lock=_lock(payment),
            customer_email=payment.customer.email,
            customer_name=payment.customer.name,
        )
        del values["customer"]
        statement = db.new_row(_P, tuple(values), self.conn.dialect.name)
        if not self._guarded(statement, values):
            raise DuplicateBooking(payment.booking_id)
        self.timeline(payment.id, "state", None, payment.status, detail="payment created")

    def apply(
        self, payment: Payment, event: str, *, detail: str, at: datetime, **changes: Any
    ) -> Payment | None:
        """Move ``payment`` as the state machine says ``event`` does (``model.TRANSITIONS``).

        Returns the payment as it now is, or None when nothing changed: the machine has no
        such move from where ``payment`` stands, or the row stands elsewhere by now.
        """
        unknown = set(changes) - _MUTABLE
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} in a transition")
        if not model.allows(payment, event):
            return None
        move = model.step(payment, event)
        after = payment.with_changes(
            status=move.status, retryable=move.retryable, updated_at=at, **changes
        )
        # ``payment`` was read before this transaction, and another path (the card flow's
        # answer and the provider's webhook for the same intent) may have moved the row
        # since.  The guard makes the update a compare-and-set: it applies only while the
        # row stands where the machine makes this same move, so of two racing paths
        # exactly one moves the payment and writes its event.
        guarded = _guarded_update(model.sources(event, move), frozenset(changes))
        wrote = self._guarded(
            guarded,
            {
                "match_id": payment.id,
                "status": move.status,
                "retryable": move.retryable,
                "updated_at": at,
                "booking_lock": _lock(after),
                **changes,
            },
        )
        if not wrote:
            return None
        if move.status == payment.status and move.emits is None:
            # no move to record (a retry that failed as the first attempt did)
            self.timeline(payment.id, "provider", detail=detail, at=at)
        else:
            self.timeline(payment.id, "state", payment.status, move.status, detail=detail, at=at)
        return after

    # -- refunds -------------------------------------------------------------------

    def reserved_minor(self, payment_id: str) -> int:
        """Refunded plus in-flight refund amounts of a payment."""
        total = self._at_once().execute(_RESERVED_MINOR, {"payment_id": payment_id}).scalar_one()
        return int(total)

    def insert_refund(self, refund: Refund) -> None:
        self._at_once().execute(
            _INSERT_REFUND,
            {
                "id": refund.id,
                "payment_id": refund.payment_id,
                "tenant_id": refund.tenant_id,
                "amount_minor": refund.amount_minor,
                "reason": refund.reason,
                "status": refund.status,
                "provider_refund_id": refund.provider_refund_id,
                "created_at": refund.created_at,
                "updated_at": refund.created_at,
            },
        )

    def get_refund(self, refund_id: str) -> Refund | None:
        row = self._at_once().execute(_REFUND_BY_ID, {"id": refund_id}).first()
        return _refund(row) if row is not None else None

    def settle_refund(self, refund: Refund, status: str, provider_refund_id: str | None) -> Refund:
        self._at_once().execute(
            _SETTLE_REFUND,
            {
                "match_id": refund.id,
                "status": status,
                "provider_refund_id": provider_refund_id,
                "updated_at": model.now(),
            },
        )
        return replace(refund, status=status, provider_refund_id=provider_refund_id)

    # -- events and timeline -------------------------------------------------------

    def emit(self, payment_id: str, messages: Sequence[OutgoingMessage]) -> None:
        """Write events into the outbox, in order, with a timeline entry each."""
        if messages:
            note_written(self.conn)
        for table, row in outbox_module.event_rows(tables.outbox, messages, payment_id):
            self.write(db.Write(table, row))
        at = model.now()
        for m in messages:
            self.timeline(
                payment_id, "event", at=at, event_type=m.routing_key, message_id=m.message_id
            )

    def request_cancel(self, payment_id: str, reason: str) -> None:
        """Remember why the API asked the provider to cancel this payment."""
        self._at_once().execute(_FORGET_CANCEL_REQUEST, {"payment_id": payment_id})
        self._at_once().execute(
            _INSERT_CANCEL_REQUEST,
            {"payment_id": payment_id, "reason": reason, "requested_at": model.now()},
        )

    def requested_cancel_reason(self, payment_id: str) -> str | None:
        row = self._at_once().execute(_CANCEL_REASON, {"payment_id": payment_id}).first()
        return None if row is None else str(row.reason)

    def timeline(
        self,
        payment_id: str,
        kind: str,
        from_status: str | None = None,
        to_status: str | None = None,
        *,
        detail: str | None = None,
        at: datetime | None = None,
        event_type: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Note a timeline entry; ``flush`` writes it."""
        self.write(
            db.Write(
                _T,
                {
                    "payment_id": payment_id,
                    "at": at or model.now(),
                    "kind": kind,
                    "from_status": from_status,
                    "to_status": to_status,
                    "event_type": event_type,
                    "message_id": message_id,
                    "detail": detail,
                },
            )
        )


class Storage:
    """Reads, and transactions for writes, on one engine.  What every request runs goes
    on the database driver (``driver.DriverEngine``); pages with filters go through
    SQLAlchemy."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._driver = DriverEngine(engine)

    @contextmanager
    def begin(self) -> Iterator[Tx]:
        with self._driver.begin() as conn:
            tx = Tx(conn)
            yield tx
            tx.flush()
        tx.committed()

    @contextmanager
    def begin_one_statement(self) -> Iterator[Tx]:
        """A transaction that reads nothing and has one guarded write (see ``Tx``): on
        PostgreSQL one statement in autocommit, with no BEGIN and COMMIT around it; on
        SQLite its statements in one transaction."""
        with self._driver.one_statement() as conn:
            tx = Tx(conn, one_statement=True)
            yield tx
            tx.flush()
        tx.committed()

    def _first(self, query: Select[Any], **params: str) -> Payment | None:
        with self._driver.reading() as conn:
            row = conn.execute(query, params).first()
        return _payment(row) if row is not None else None

    def get_payment(self, payment_id: str, tenant_id: str | None = None) -> Payment | None:
        if tenant_id is None:
            return self._first(_PAYMENT_BY_ID, id=payment_id)
        return self._first(_TENANT_PAYMENT_BY_ID, id=payment_id, tenant_id=tenant_id)

    def find_by_intent(self, intent_id: str) -> Payment | None:
        return self._first(_PAYMENT_BY_INTENT, intent_id=intent_id)

    def booking_holder(self, tenant_id: str, booking_id: str) -> Payment | None:
        """The payment that holds the tenant's booking (``tables.payments.booking_lock``)."""
        return self._first(_BOOKING_HOLDER, tenant_id=tenant_id, booking_id=booking_id)

    def list_payments(
        self, tenant_id: str, *, page: int, limit: int, status: str | None = None
    ) -> tuple[list[Payment], int]:
        rows, total = db.newest_first(self.engine, _P, tenant_id, page, limit=limit, status=status)
        return [_payment(row) for row in rows], total

    def timeline(self, payment_id: str) -> list[dict[str, Any]]:
        with self._driver.reading() as conn:
            rows = conn.execute(_TIMELINE_OF, {"payment_id": payment_id}).all()
        return [
            {
                "at": model.iso(row.at),
                "kind": row.kind,
                "from_status": row.from_status,
                "to_status": row.to_status,
                "event_type": row.event_type,
                "message_id": row.message_id,
                "detail": row.detail,
            }
            for row in rows
        ]
