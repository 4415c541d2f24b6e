"""The payment state machine, walked whole through the real storage: every state of a
payment against every event, a legal one moves and publishes as ``model.TRANSITIONS``
says, an illegal one is refused and changes nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox.services.common.db import create_schema, make_engine, sqlite_url
from sandbox.services.payment import model, tables
from sandbox.services.payment.handlers.base import move
from sandbox.services.payment.model import Payment, Refund
from sandbox.services.payment.storage import Storage

_ids = itertools.count(1)
AMOUNT = 1000


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    engine = make_engine(sqlite_url(Path(tmp_path_factory.mktemp("machine")) / "payment.db"))
    create_schema(engine, tables.metadata)
    yield Storage(engine)
    engine.dispose()


def payment_in(state: str) -> Payment:
    """A payment standing in ``state`` of the machine, as the stored fields say it."""
    status, retryable, flow = model.STATE_FIELDS[state]
    n = next(_ids)
    at = model.now() - timedelta(seconds=5)
    refunded = {model.PARTIALLY_REFUNDED: AMOUNT // 2, model.REFUNDED: AMOUNT}.get(status, 0)
    return Payment(
        id=f"TXN-WALK{n:08d}",
        tenant_id="walk",
        booking_id=f"BOOK-WALK-{n}",
        user_id="user_walk",
        amount_minor=AMOUNT,
        currency="USD",
        payment_method="credit_card",
        flow=flow or model.CARD_FLOW,
        status=status,
        correlation_id=f"walk-{n}",
        created_at=at,
        updated_at=at,
        refunded_minor=refunded,
        retryable=bool(retryable),
        provider_intent_id=f"pi_walk_{n}",
    )


def _arguments(payment: Payment, event: str) -> dict[str, Any]:
    """What the handlers pass along with ``event``."""
    if event in (model.REFUND_PART, model.REFUND_REST):
        left = payment.amount_minor - payment.refunded_minor
        amount = left if event == model.REFUND_REST else max(1, left // 4)
        refund = Refund(
            f"REF-{payment.id}",
            payment.id,
            payment.tenant_id,
            amount,
            "walk",
            "pending",
            model.now(),
        )
        return {"refund": refund, "refunded_minor": payment.refunded_minor + amount}
    if event == model.CANCEL:
        return {"reason": "walked"}
    if event == model.DECLINE:
        return {"error_code": "CARD_DECLINED", "error_message": "declined in the walk"}
    return {}


def _stored(storage: Storage, payment_id: str) -> tuple[Payment, list[dict[str, Any]]]:
    found = storage.get_payment(payment_id)
    assert found is not None
    outbox = tables.outbox
    with storage.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.routing_key, outbox.c.body)
            .where(outbox.c.aggregate_id == payment_id)
            .order_by(outbox.c.id)
        ).all()
    return found, [{"routing_key": r.routing_key, **json.loads(r.body)} for r in rows]


def _refund_event(payment: Payment, event: str) -> str:
    """Which refund event a refund of this size is, as the handler asks the model."""
    amount = _arguments(payment, event)["refund"].amount_minor
    return model.refund_event(payment, amount)


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(model.STATES[1:], model.EVENTS))
)
def test_every_state_and_event_moves_as_the_table_says_or_is_refused(
    storage: Storage, state: str, event: str
):
    payment = payment_in(state)
    with storage.begin() as tx:
        tx.insert_payment(payment)
    legal = (state, event) in model.TRANSITIONS
    at = model.now()

    with storage.begin() as tx:
        moved = move(tx, payment, event, detail="walk", at=at, **_arguments(payment, event))

    after, published = _stored(storage, payment.id)
    assert model.state_of(payment) == state
    if legal:
        expected = model.TRANSITIONS[(state, event)]
        assert moved is not None
        assert (after.status, after.retryable) == (expected.status, expected.retryable)
        assert moved.status == after.status
        assert [p["routing_key"] for p in published] == ([expected.emits] if expected.emits else [])
        if event in (model.REFUND_PART, model.REFUND_REST):
            assert _refund_event(payment, event) == event
            assert published[0]["refundType"] == (
                "full" if event == model.REFUND_REST else "partial"
            )
    else:
        assert moved is None
        assert (after.status, after.retryable, after.updated_at) == (
            payment.status,
            payment.retryable,
            payment.updated_at,
        )
        assert published == []
        with pytest.raises(model.InvalidTransition, match=f"a {payment.status} payment cannot"):
            model.step(payment, event)


@pytest.mark.parametrize("event", model.EVENTS)
def test_only_opening_moves_a_payment_that_does_not_exist_yet(event: str):
    if event == model.OPEN:
        assert model.step(None, event) == model.Move(model.PENDING, emits="payment.created")
    else:
        with pytest.raises(model.InvalidTransition):
            model.step(None, event)


def test_the_table_names_only_known_states_and_events_and_never_moves_back():
    order = {
        model.PENDING: 0,
        model.FAILED: 1,
        model.COMPLETED: 2,
        model.CANCELLED: 2,
        model.PARTIALLY_REFUNDED: 3,
        model.REFUNDED: 4,
    }
    for (state, event), made in model.TRANSITIONS.items():
        assert state in model.STATES and event in model.EVENTS
        if state != model.NEW:
            before = model.STATE_FIELDS[state][0]
            assert order[made.status] >= order[before], (state, event, made)
    # nothing leaves a settled payment but a refund of what was paid
    for state in (model.REFUNDED, model.CANCELLED):
        assert not [e for e in model.EVENTS if (state, e) in model.TRANSITIONS]


def test_a_move_read_before_another_path_moved_the_payment_changes_nothing(storage: Storage):
    payment = payment_in(model.PENDING)
    with storage.begin() as tx:
        tx.insert_payment(payment)
    at = model.now()
    with storage.begin() as tx:  # the provider's webhook completes it first
        assert move(tx, payment, model.SUCCEED, detail="webhook", at=at) is not None

    with storage.begin() as tx:  # the card flow's decline, from its earlier read
        late = move(
            tx, payment, model.DECLINE, detail="stale", at=at, **_arguments(payment, model.DECLINE)
        )

    after, published = _stored(storage, payment.id)
    assert late is None
    assert after.status == model.COMPLETED
    assert [p["routing_key"] for p in published] == ["payment.completed"]


def test_the_same_move_goes_through_from_whichever_legal_state_the_row_reached(storage: Storage):
    payment = payment_in(model.PENDING)
    with storage.begin() as tx:
        tx.insert_payment(payment)
    with storage.begin() as tx:  # the card flow's confirm timed out
        failed = move(tx, payment, model.GATEWAY_FAIL, detail="timeout", at=model.now())
    assert failed is not None and model.state_of(failed) == model.FAILED_UNKNOWN

    with storage.begin() as tx:  # the webhook read it pending; the charge did go through
        done = move(tx, payment, model.SUCCEED, detail="webhook", at=model.now())

    after, published = _stored(storage, payment.id)
    assert done is not None and after.status == model.COMPLETED
    assert [p["routing_key"] for p in published] == ["payment.failed", "payment.completed"]
