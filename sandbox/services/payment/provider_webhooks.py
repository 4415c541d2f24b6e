"""The provider's webhooks, verified by the stripe SDK as any Stripe integration does.

``stripe.Webhook.construct_event`` checks the ``Stripe-Signature`` header (an HMAC-SHA256
of ``<t>.<body>`` under the endpoint secret) and refuses a timestamp older than the
tolerance, which is what stops an old delivery replayed later.  Pointing the service at
Stripe instead of the mock is then a change of ``PAYMENT_WEBHOOK_SECRET`` only.

The SDK accepts a timestamp from any distance in the *future*.  Such a delivery would
stay replayable until its timestamp plus the tolerance, however far ahead that is, so
it is refused here beyond ``FUTURE_SKEW_S``: more than two clocks kept by NTP ever
disagree, less than the tolerance.

Every refusal is a :class:`WebhookRefused` with a reason; neither the secret nor the
header's signatures appear in its message.
"""

from __future__ import annotations

import time
from typing import Any

import stripe

FUTURE_SKEW_S = 60

MISSING, INVALID, STALE, FUTURE, NOT_AN_EVENT = (
    "missing_signature",
    "invalid_signature",
    "stale_signature",
    "future_signature",
    "invalid_payload",
)


class WebhookRefused(Exception):
    """A delivery that is not a verified provider event; ``reason`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def construct_event(
    payload: bytes, header: str | None, secret: str, *, tolerance_s: int, now: float | None = None
) -> dict[str, Any]:
    """The verified event as plain JSON data, or WebhookRefused."""
    if not header:
        raise WebhookRefused(MISSING, "the Stripe-Signature header is missing")
    try:
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        if tolerance_s and _signed(payload, header, secret):
            raise WebhookRefused(
                STALE, f"the signature timestamp is older than the tolerance ({tolerance_s} s)"
            ) from None
        raise WebhookRefused(
            INVALID, f"the signature does not verify: {exc.user_message}"
        ) from None
    except TypeError:
        # hmac.compare_digest refuses a non-ASCII signature: it matches nothing
        raise WebhookRefused(INVALID, "the signature does not verify: not ASCII") from None
    except (ValueError, AttributeError, RecursionError):
        # signed, but not UTF-8 JSON (ValueError), not an object (AttributeError), or
        # nested past the recursion limit
        raise WebhookRefused(NOT_AN_EVENT, "the webhook body is not a provider event") from None
    timestamp = _timestamp(header)
    current = time.time() if now is None else now
    if tolerance_s and timestamp > current + FUTURE_SKEW_S:
        raise WebhookRefused(
            FUTURE,
            f"the signature timestamp is {int(timestamp - current)} s in the future "
            f"(at most {FUTURE_SKEW_S} s of clock skew is accepted)",
        )
    data: dict[str, Any] = event.to_dict()
    return data


def _signed(payload: bytes, header: str, secret: str) -> bool:
    """Whether the signature verifies when its age is not checked."""
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except (stripe.SignatureVerificationError, TypeError, ValueError):
        return False
    return True


def _timestamp(header: str) -> int:
    """The ``t=`` of a header the SDK has verified, read as the SDK reads it."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))
