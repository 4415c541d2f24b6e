"""Seed 002's five emails, rendered from events with Jinja2 (``templates/``).

Each email is three templates: ``<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``.
HTML templates are autoescaped, so event data (a customer name ``<script>``) is shown as
text, never as markup.  Every value also has its control characters replaced by spaces,
which keeps a line break in a name out of the Subject header and the text part.
Undefined variables are errors (``StrictUndefined``): a template that asks for data the
context lacks fails loudly instead of sending a half-empty email.

Template variables follow seed 002's list, mapped onto appointments: ``booking_id``
(appointmentId), ``user_name`` (customerName), ``amount``, ``transaction_id``
(paymentId), and ``service`` in place of the seed's ``movie_title``; plus the fields
each email needs (start time, refund, error, reason).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES = (
    "appointment_confirmed",
    "payment_succeeded",
    "payment_failed",
    "appointment_cancelled",
    "refund_processed",
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_SUBJECT = 200


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class AppointmentFacts:
    """What the notifier knows about an appointment from its ``appointment.*`` events."""

    customer_email: str | None = None
    customer_name: str | None = None
    service: str | None = None
    start_time: str | None = None


def clean(value: Any) -> Any:
    """Strings without control characters (line breaks included); other values as they are."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value).strip()
    return value


def format_time(value: Any) -> str | None:
    """``Thursday 01 June 2023, 14:30 (UTC+02:00)``; the raw text if it does not parse."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{moment.strftime('%A %d %B %Y, %H:%M')} ({zone})"


def format_money(amount: Any, currency: Any) -> str | None:
    if amount is None or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return f"{value:,.2f} {currency or ''}".strip()


def email_context(
    routing_key: str,
    body: Mapping[str, Any],
    facts: AppointmentFacts | None,
    *,
    support_email: str,
) -> dict[str, Any]:
    """Template variables for the email ``routing_key`` causes (all keys always present)."""
    facts = facts or AppointmentFacts()
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    assert isinstance(error, Mapping)
    currency = body.get("currency")
    refund_type = body.get("refundType")
    at = format_time(body.get("timestamp"))
    context = {
        "user_name": body.get("customerName") or facts.customer_name or "there",
        "booking_id": body.get("appointmentId"),
        "transaction_id": body.get("paymentId"),
        "service": body.get("service") or facts.service,
        "start_time": format_time(body.get("startTime") or facts.start_time),
        "amount": format_money(body.get("amount"), currency),
        "refund_amount": format_money(body.get("refundedAmount"), currency),
        "refund_type": refund_type if refund_type in ("full", "partial") else "",
        "refund_id": body.get("refundId"),
        "reason": body.get("reason"),
        "error_code": error.get("code"),
        "error_message": error.get("message") or "the payment was declined",
        "payment_status": body.get("paymentStatus"),
        "paid_at": at,
        "processed_at": at,
        "support_email": support_email,
    }
    return {key: clean(value) for key, value in context.items()}


class EmailRenderer:
    """The Jinja2 environment over the package's templates, built once per process."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("sandbox.services.notifier", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # the templates are package files: no stat() of each one on every render
            auto_reload=False,
        )

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Subject, text and HTML of ``template``; jinja2 errors propagate."""
        if template not in TEMPLATES:
            raise LookupError(f"no email template {template!r}")
        subject = self._env.get_template(f"{template}.subject.txt").render(context)
        subject = " ".join(subject.split())[:MAX_SUBJECT]
        text = self._env.get_template(f"{template}.txt").render(context)
        html = self._env.get_template(f"{template}.html").render(context)
        return RenderedEmail(subject=subject, text=text, html=html)
