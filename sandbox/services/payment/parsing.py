"""Reading requests: the Idempotency-Key header, bodies checked against the contract.

Bodies are validated by the service's OpenAPI document first (contract first), then
turned into the handlers' request objects.  Error messages never repeat a card field's
value: a mistyped card number is still a card number.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from typing import Any

from flask import request
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.services.common.jsonlog import scrub
from sandbox.services.common.openapi import OpenApiDocument
from sandbox.services.common.web import ApiError, checked_header, query_int
from sandbox.services.payment.handlers import PaymentRequest, RefundRequest
from sandbox.services.payment.model import STATUSES, CardInput, Customer
from sandbox.services.payment.money import AmountError, CurrencyError, exponent, to_minor

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_AMOUNT_FIELDS = ("amount", "refund_amount")
_CARD_MESSAGES = {
    "card_details.card_number": "card_details.card_number must be 12 to 19 digits",
    "card_details.expiry_month": "card_details.expiry_month must be a month, 1 to 12",
    "card_details.expiry_year": "card_details.expiry_year must be a year such as 2030 or 30",
    "card_details.cvv": "card_details.cvv must be 3 or 4 digits",
    "card_details.cardholder_name": "card_details.cardholder_name must be 1 to 200 characters",
}


def idempotency_key() -> str | None:
    return checked_header(
        IDEMPOTENCY_HEADER,
        _KEY,
        "IDEMPOTENCY_KEY_INVALID",
        "1-255 printable ASCII characters without spaces",
    )


def fingerprint(secret: str, body: dict[str, Any]) -> str:
    """Same method, path and body give the same value; the body cannot be read back."""
    canonical = json.dumps(
        [request.method, request.path, body], sort_keys=True, separators=(",", ":")
    )
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def validated(document: OpenApiDocument, path_template: str, body: dict[str, Any]) -> None:
    """Check ``body`` against the contract; refusals use seed 003's codes where it has one."""
    try:
        document.validate_body(request.method, path_template, body, "VALIDATION_ERROR")
    except ApiError as exc:
        field = str(exc.details.get("field") or "")
        if field == "card_details" and isinstance(body.get("card_details"), dict):
            field = _card_field(document, body["card_details"]) or field
        if field.startswith("card_details"):
            message = _CARD_MESSAGES.get(field, f"{field} is missing or malformed")
            if exc.message.endswith("is required"):
                message = f"{field} is required"
                if field == "card_details":
                    message += f" when payment_method is {body.get('payment_method')}"
            raise ApiError("INVALID_CARD", message, 400, field=field) from None
        if field in _AMOUNT_FIELDS and not exc.message.endswith("is required"):
            message = _amount_problem(body, field) or scrub(exc.message)
            raise ApiError("INVALID_AMOUNT", message, 400, field=field) from None
        if field == "currency" and isinstance(body.get("currency"), str):
            _currency(body, "USD")  # the service's own words for an unsupported currency
        raise ApiError(exc.code, scrub(exc.message), exc.status, field=field or None) from None


def _amount_problem(body: dict[str, Any], field: str) -> str | None:
    """What is wrong with a payment's amount, in the money rules' words (None: say it plainly)."""
    if field != "amount" or not isinstance(body.get("currency", "USD"), str):
        return None
    try:
        to_minor(body["amount"], str(body.get("currency", "USD")).upper(), field)
    except (AmountError, CurrencyError) as exc:
        return str(exc)
    return None


@functools.cache
def _card_validator(document: OpenApiDocument) -> Draft202012Validator:
    resource = Resource.from_contents(document.document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(OpenApiDocument.URI, resource)
    return Draft202012Validator(
        {"$ref": f"{OpenApiDocument.URI}#/components/schemas/CardDetails"}, registry=registry
    )


def _card_field(document: OpenApiDocument, card: dict[str, Any]) -> str | None:
    """The first card field at fault (the contract reports the whole optional object)."""
    validator = _card_validator(document)
    for error in sorted(validator.iter_errors(card), key=lambda e: (len(e.path), e.message)):
        if error.path:
            return f"card_details.{error.path[0]}"
        if error.validator == "required":
            missing = [name for name in error.validator_value if name not in card]
            if missing:
                return f"card_details.{missing[0]}"
    return None


def _currency(body: dict[str, Any], default: str) -> str:
    currency = str(body.get("currency") or default).upper()
    try:
        exponent(currency)
    except CurrencyError as exc:
        raise ApiError("UNSUPPORTED_CURRENCY", str(exc), field="currency") from None
    return currency


def _minor(value: Any, currency: str, field: str) -> int:
    try:
        return to_minor(value, currency, field)
    except AmountError as exc:
        raise ApiError("INVALID_AMOUNT", str(exc), field=field) from None


def _year(value: Any) -> int:
    year = int(value)
    return year + 2000 if year < 100 else year


def _card(raw: Any) -> CardInput | None:
    if not isinstance(raw, dict):
        return None
    return CardInput(
        number=str(raw["card_number"]),
        exp_month=int(raw["expiry_month"]),
        exp_year=_year(raw["expiry_year"]),
        cvc=str(raw["cvv"]),
        holder=str(raw["cardholder_name"]),
    )


def _customer(body: dict[str, Any]) -> Customer:
    email = body.get("customer_email") or body.get("user_email")
    return Customer(email=email or None, name=body.get("customer_name") or None)


def payment_request(body: dict[str, Any], default_currency: str) -> PaymentRequest:
    currency = _currency(body, default_currency)
    return PaymentRequest(
        user_id=body["user_id"],
        booking_id=body["booking_id"],
        amount_minor=_minor(body["amount"], currency, "amount"),
        currency=currency,
        payment_method=body.get("payment_method") or "credit_card",
        card=_card(body.get("card_details")),
        customer=_customer(body),
    )


def refund_request(body: dict[str, Any]) -> RefundRequest:
    return RefundRequest(
        booking_id=body["booking_id"],
        transaction_id=body["original_transaction_id"],
        refund_amount=body["refund_amount"],
        reason=body["reason"],
        user_id=body["user_id"],
    )


def page_args() -> tuple[int, int, str | None]:
    """``page`` (from 1) and ``limit`` (1-100, default 20) of a listing, and a status."""
    page = query_int("page", 1, 1_000_000, code="VALIDATION_ERROR", status=422)
    limit = query_int("limit", 20, 100, code="VALIDATION_ERROR", status=422)
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(
            "VALIDATION_ERROR", f"status must be one of {', '.join(STATUSES)}", 422, field="status"
        )
    return page, limit, status
