"""Storage of the payment service: the only module (with ``storage_requests``) writing SQL.

``Storage`` reads; ``Storage.begin()`` opens one transaction as a ``Tx`` whose methods
change payments and refunds, write their events into the outbox and their timeline
entries.  A state change, its events and its timeline entries always commit together.

Every change of status is a move of the state machine (``Tx.apply``, ``model.TRANSITIONS``),
guarded in SQL as well: when two paths race (the card flow's answer and the provider's
webhook for the same intent), exactly one applies the change and emits its event; the
other sees it already done.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from sandbox.messaging import OutgoingMessage
from sandbox.services.common import db
from sandbox.services.common import outbox as outbox_module
from sandbox.services.common.db import from_row, to_row
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


class Tx:
    """One open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- payments ------------------------------------------------------------------

    def get_payment(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        query = select(_P).where(_P.c.id == payment_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return _payment(row) if row is not None else None

    def insert_payment(self, payment: Payment) -> None:
        """Insert a new payment; DuplicateBooking when its booking is already held."""
        values = to_row(
            payment,
            booking_lock=_lock(payment),
            customer_email=payment.customer.email,
            customer_name=payment.customer.name,
        )
        del values["customer"]
        # A savepoint keeps the transaction usable on PostgreSQL after the violation.
        try:
            with self.conn.begin_nested():
                # parameters apart from the statement: its compiled form is cached
                self.conn.execute(_P.insert(), values)
        except IntegrityError as exc:
            raise DuplicateBooking(payment.booking_id) from exc
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
        result = self.conn.execute(
            update(_P)
            .where(_P.c.id == payment.id, _standing_in(model.sources(event, move)))
            .values(
                status=move.status,
                retryable=move.retryable,
                updated_at=at,
                booking_lock=_lock(after),
                **changes,
            )
        )
        if result.rowcount != 1:
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
        r = tables.refunds
        total = self.conn.execute(
            select(func.coalesce(func.sum(r.c.amount_minor), 0)).where(
                r.c.payment_id == payment_id, r.c.status.in_(("pending", "succeeded"))
            )
        ).scalar_one()
        return int(total)

    def insert_refund(self, refund: Refund) -> None:
        self.conn.execute(
            tables.refunds.insert().values(
                id=refund.id,
                payment_id=refund.payment_id,
                tenant_id=refund.tenant_id,
                amount_minor=refund.amount_minor,
                reason=refund.reason,
                status=refund.status,
                provider_refund_id=refund.provider_refund_id,
                created_at=refund.created_at,
                updated_at=refund.created_at,
            )
        )

    def get_refund(self, refund_id: str) -> Refund | None:
        row = self.conn.execute(
            select(tables.refunds).where(tables.refunds.c.id == refund_id)
        ).first()
        return _refund(row) if row is not None else None

    def settle_refund(self, refund: Refund, status: str, provider_refund_id: str | None) -> Refund:
        r = tables.refunds
        self.conn.execute(
            update(r)
            .where(r.c.id == refund.id)
            .values(status=status, provider_refund_id=provider_refund_id, updated_at=model.now())
        )
        return replace(refund, status=status, provider_refund_id=provider_refund_id)

    # -- events and timeline -------------------------------------------------------

    def emit(self, payment_id: str, messages: Sequence[OutgoingMessage]) -> None:
        """Write events into the outbox, in order, with a timeline entry each."""
        outbox_module.add_events(self.conn, tables.outbox, messages, aggregate_id=payment_id)
        at = model.now()
        self.conn.execute(
            tables.timeline.insert(),
            [
                _entry(payment_id, "event", at, event_type=m.routing_key, message_id=m.message_id)
                for m in messages
            ],
        )

    def request_cancel(self, payment_id: str, reason: str) -> None:
        """Remember why the API asked the provider to cancel this payment."""
        t = tables.cancel_requests
        self.conn.execute(t.delete().where(t.c.payment_id == payment_id))
        self.conn.execute(
            t.insert().values(payment_id=payment_id, reason=reason, requested_at=model.now())
        )

    def requested_cancel_reason(self, payment_id: str) -> str | None:
        t = tables.cancel_requests
        row = self.conn.execute(select(t.c.reason).where(t.c.payment_id == payment_id)).first()
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
    ) -> None:
        entry = _entry(payment_id, kind, at or model.now(), from_status, to_status, detail)
        self.conn.execute(tables.timeline.insert(), entry)


def _entry(
    payment_id: str,
    kind: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: str | None = None,
    event_type: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "at": at,
        "kind": kind,
        "from_status": from_status,
        "to_status": to_status,
        "event_type": event_type,
        "message_id": message_id,
        "detail": detail,
    }


class Storage:
    """Reads, and transactions for writes, on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def begin(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn)

    def _first(self, *where: ColumnElement[bool]) -> Payment | None:
        with db.reading(self.engine) as conn:
            row = conn.execute(select(_P).where(*where)).first()
        return _payment(row) if row is not None else None

    def get_payment(self, payment_id: str, tenant_id: str | None = None) -> Payment | None:
        if tenant_id is None:
            return self._first(_P.c.id == payment_id)
        return self._first(_P.c.id == payment_id, _P.c.tenant_id == tenant_id)

    def find_by_intent(self, intent_id: str) -> Payment | None:
        return self._first(_P.c.provider_intent_id == intent_id)

    def booking_holder(self, tenant_id: str, booking_id: str) -> Payment | None:
        """The payment that holds the tenant's booking (``tables.payments.booking_lock``)."""
        return self._first(_P.c.tenant_id == tenant_id, _P.c.booking_lock == booking_id)

    def list_payments(
        self, tenant_id: str, *, page: int, limit: int, status: str | None = None
    ) -> tuple[list[Payment], int]:
        with db.reading(self.engine) as conn:
            rows, total = db.page(
                conn,
                _P,
                db.tenant_rows(_P, tenant_id, status=status),
                [_P.c.created_at.desc(), _P.c.id.desc()],
                limit=limit,
                offset=(page - 1) * limit,
            )
        return [_payment(row) for row in rows], total

    def timeline(self, payment_id: str) -> list[dict[str, Any]]:
        t = tables.timeline
        with db.reading(self.engine) as conn:
            rows = conn.execute(
                select(t).where(t.c.payment_id == payment_id).order_by(t.c.id)
            ).all()
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
