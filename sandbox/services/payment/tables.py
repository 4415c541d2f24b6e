"""The payment service's tables (SQLAlchemy Core), all prefixed ``payment_``.

The prefix lets one shared PostgreSQL database hold every service.  Amounts are integer
minor units.  No column holds a card number, CVV or expiry: a payment keeps the brand
and the last four digits, nothing else of the card.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sandbox.services.common import columns
from sandbox.services.common.outbox import outbox_table

metadata = MetaData()

payments = Table(
    "payment_payments",
    metadata,
    Column("id", String(32), primary_key=True),
    columns.tenant_id(),
    Column("booking_id", String(128), nullable=False),
    # booking_id while the payment holds the booking (pending, completed, partially
    # refunded, failed but retryable), else NULL: the unique constraint below makes a
    # second payment of the same booking impossible even under concurrent requests.
    Column("booking_lock", String(128), nullable=True),
    Column("user_id", String(128), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, default=0),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(32), nullable=False),
    Column("flow", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("retryable", Boolean, nullable=False, default=False),
    Column("provider_intent_id", String(255), nullable=True, unique=True),
    Column("card_brand", String(32), nullable=True),
    Column("card_last4", String(4), nullable=True),
    *columns.error(),
    *columns.customer(nullable=True),
    columns.correlation_id(nullable=False),
    *columns.timestamps(),
    columns.moment("processed_at", nullable=True),
    UniqueConstraint("tenant_id", "booking_lock", name="payment_payments_booking_lock"),
    Index("payment_payments_tenant_created", "tenant_id", "created_at"),
)

refunds = Table(
    "payment_refunds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payment_id", String(32), nullable=False, index=True),
    columns.tenant_id(),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    # pending (amount reserved), succeeded, failed (released)
    Column("status", String(16), nullable=False),
    Column("provider_refund_id", String(255), nullable=True),
    *columns.timestamps(),
)

idempotency = Table(
    "payment_idempotency",
    metadata,
    columns.tenant_id(),
    Column("key", String(255), nullable=False),
    # HMAC of method, path and body: says "same request" without keeping the body
    Column("fingerprint", String(64), nullable=False),
    # in_progress, done (response stored), retry (gateway failure: re-attempt resource_id)
    Column("state", String(16), nullable=False),
    Column("resource_id", String(32), nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("response", Text, nullable=True),
    *columns.timestamps(),
    PrimaryKeyConstraint("tenant_id", "key"),
)

webhook_events = Table(
    "payment_webhook_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("payment_id", String(32), nullable=True),
    Column("outcome", String(64), nullable=False),
    columns.moment("received_at"),
)

timeline = Table(
    "payment_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payment_id", String(32), nullable=False, index=True),
    columns.moment("at"),
    # state (a transition), event (an event written to the outbox), provider, webhook
    Column("kind", String(16), nullable=False),
    Column("from_status", String(32), nullable=True),
    Column("to_status", String(32), nullable=True),
    Column("event_type", String(64), nullable=True),
    Column("message_id", String(64), nullable=True),
    Column("detail", Text, nullable=True),
)

# A cancellation asked for through the API, written before the provider is asked: the
# provider's own payment_intent.canceled webhook may record the cancellation first, and
# then it takes the caller's reason from here.
cancel_requests = Table(
    "payment_cancel_requests",
    metadata,
    Column("payment_id", String(32), primary_key=True),
    Column("reason", Text, nullable=False),
    columns.moment("requested_at"),
)

outbox = outbox_table(metadata, "payment_outbox")

ALL = (payments, refunds, idempotency, webhook_events, timeline, cancel_requests, outbox)
