"""The payment service's handlers: plain functions that return domain outcomes.

- ``cards``: opening a payment, charging a card, the intent flow, reconciliation;
- ``cancel``: cancelling on request;
- ``refunds``: full and partial refunds;
- ``webhooks``: the provider's signed events, checked and applied once;
- ``base``: their dependencies, requests, outcomes and the state machine's ``move``.

Each takes ``Deps`` and a request and answers an outcome (``Charged``,
``IntentOpened``, ``Cancelled``, ``Refunded``, ``WebhookHandled``) or refuses with a
``PaymentError`` or the state machine's ``InvalidTransition``; the API maps both to HTTP.
"""

from sandbox.services.payment.handlers.base import (
    Cancelled,
    Charged,
    Context,
    Deps,
    IntentOpened,
    PaymentRequest,
    Refunded,
    RefundRequest,
    WebhookHandled,
    find,
)
from sandbox.services.payment.handlers.cancel import cancel_payment
from sandbox.services.payment.handlers.cards import create_intent, process_payment
from sandbox.services.payment.handlers.refunds import refund_payment
from sandbox.services.payment.handlers.webhooks import handle as handle_webhook

__all__ = [
    "Cancelled",
    "Charged",
    "Context",
    "Deps",
    "IntentOpened",
    "PaymentRequest",
    "RefundRequest",
    "Refunded",
    "WebhookHandled",
    "cancel_payment",
    "create_intent",
    "find",
    "handle_webhook",
    "process_payment",
    "refund_payment",
]
