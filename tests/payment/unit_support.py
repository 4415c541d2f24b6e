"""The payment API in-process over a fake provider and a SQLite file, and signed events.

For the unit tests: no processes, no broker, no provider; what the API wrote is read
back from its outbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from sandbox.services.common.db import make_engine, sqlite_url
from sandbox.services.payment import tables
from sandbox.services.payment.api import create_app
from sandbox.services.payment.bookings import Bookings
from sandbox.services.payment.fake_provider import FakeProvider
from sandbox.services.payment.settings import PaymentSettings
from sandbox.signing import sign

SECRET = "whsec_unit"


def make_app(
    tmp_path: Any, fake: FakeProvider, bookings: Bookings | None = None, **overrides: Any
) -> Iterator[Flask]:
    values: dict[str, Any] = {
        "database_url": sqlite_url(tmp_path / "payment.db"),
        "webhook_secret": SECRET,
        "rate_limit_enabled": False,
        **overrides,
    }
    settings = PaymentSettings(**values)
    engine = make_engine(settings.database_url)
    yield create_app(settings, provider=fake, engine=engine, bookings=bookings)
    engine.dispose()


def outbox(app: Flask) -> list[tuple[str, dict, dict]]:
    engine = app.extensions["payment"].storage.engine
    with engine.connect() as conn:
        rows = conn.execute(select(tables.outbox).order_by(tables.outbox.c.id)).all()
    return [(r.routing_key, json.loads(r.body), json.loads(r.envelope)) for r in rows]


def keys(app: Flask, payment_id: str) -> list[str]:
    return [key for key, body, _ in outbox(app) if body["paymentId"] == payment_id]


# -- webhooks ------------------------------------------------------------------------------


def event(event_type: str, intent_id: str, **obj: Any) -> bytes:
    body = {
        "id": f"evt_{event_type}_{intent_id}_{time.monotonic_ns()}",
        "type": event_type,
        "data": {"object": {"id": intent_id, "object": "payment_intent", **obj}},
    }
    return json.dumps(body).encode()


def intent_fields(fake: FakeProvider, intent_id: str) -> dict[str, Any]:
    """What the provider's event says about one of its intents, as it is now."""
    intent = fake.intents[intent_id]
    return {
        "amount": intent.amount_minor,
        "currency": intent.currency.lower(),
        "metadata": dict(intent.metadata),
        "status": intent.status,
    }


def deliver(client: FlaskClient, body: bytes, secret: str = SECRET) -> Any:
    return client.post(
        "/payment/webhook",
        data=body,
        headers={"Stripe-Signature": sign(secret, body), "Content-Type": "application/json"},
    )


def open_intent(client: FlaskClient, booking: str = "BOOK-W", **headers: str) -> dict:
    return dict(
        client.post(
            "/payment/intents",
            json={"user_id": "u", "booking_id": booking, "amount": 9},
            headers=headers,
        ).json
    )
