"""The payment service's HTTP API: seed 003 route for route, plus intents, webhooks,
cancel, listing and timeline.  ``create_app`` wires real or given dependencies.

Routes read the request and call a handler; ``replies`` turns its outcome, or its
refusal, into the answer.

Every request body is checked against ``contracts/http/payment.openapi.yaml`` (served at
``/openapi.json``) before a handler sees it.  POST requests honour ``Idempotency-Key``:
the first response is stored and replayed for the same key and body; the same key with
another body is refused; a 502 is not stored, so a retry re-attempts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import Engine

from sandbox.services.common import app as service_app
from sandbox.services.common import tenancy, web
from sandbox.services.common.openapi import OpenApiDocument
from sandbox.services.common.web import ApiError
from sandbox.services.payment import handlers, parsing, replies, tables
from sandbox.services.payment.bookings import AppointmentDirectory, Bookings
from sandbox.services.payment.handlers import Context, Deps
from sandbox.services.payment.model import InvalidTransition, PaymentError
from sandbox.services.payment.provider import GatewayError, PaymentProvider, StripeProvider
from sandbox.services.payment.replies import Reply
from sandbox.services.payment.settings import SERVICE_NAME, PaymentSettings
from sandbox.services.payment.storage import Storage, Tx
from sandbox.services.payment.storage_requests import (
    BUSY,
    MISMATCH,
    REPLAY,
    RequestStore,
    finish_idempotency,
)

log = logging.getLogger(__name__)

payments = Blueprint("payments", __name__)
provider_hooks = Blueprint("provider_hooks", __name__)

PAYMENT_METHODS = [
    {
        "id": "credit_card",
        "name": "Credit Card",
        "description": "Visa, MasterCard, American Express",
        "enabled": True,
    },
    {"id": "debit_card", "name": "Debit Card", "description": "Bank debit cards", "enabled": True},
    {
        "id": "paypal",
        "name": "PayPal",
        "description": "Pay with your PayPal account",
        "enabled": True,
    },
    {"id": "stripe", "name": "Stripe", "description": "Secure online payments", "enabled": False},
]


def _deps() -> Deps:
    return service_app.context(Deps)


def _document() -> OpenApiDocument:
    return service_app.info().openapi


def _valid_body(path: str, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty optional body), checked against the
    OpenAPI document's ``path``."""
    empty = optional and not request.get_data(cache=True).strip()
    body: dict[str, Any] = {} if empty else web.json_object()
    parsing.validated(_document(), path, body)
    return body


def _respond(reply: Reply) -> Response:
    response = jsonify(reply.body)
    response.status_code = reply.status
    response.headers.update(reply.headers)
    return response


def _context() -> Context:
    deps = _deps()
    g.tenant_id = tenancy.tenant(deps.settings.default_tenant)
    return Context(
        tenant_id=g.tenant_id,
        correlation_id=web.correlation_id(),
        idempotency_key=parsing.idempotency_key(),
    )


def _idempotent(body: dict[str, Any], operation: Callable[[Context], Reply]) -> Response:
    """Run ``operation`` once per Idempotency-Key (see the module doc)."""
    deps = _deps()
    ctx = _context()
    key = ctx.idempotency_key
    if key is None:
        return _respond(operation(ctx))
    fingerprint = parsing.fingerprint(deps.settings.fingerprint_secret, body)
    claim = deps.requests.claim(
        ctx.tenant_id, key, fingerprint, stale_after_s=deps.settings.idempotency_stale_s
    )
    if claim.kind == MISMATCH:
        raise ApiError(
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with a different request; use a new key",
            422,
            field=parsing.IDEMPOTENCY_HEADER,
        )
    if claim.kind == BUSY:
        raise ApiError(
            "IDEMPOTENCY_KEY_IN_USE",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            409,
            field=parsing.IDEMPOTENCY_HEADER,
        )
    if claim.kind == REPLAY:
        assert claim.status_code is not None and claim.response is not None
        return _respond(Reply(claim.status_code, claim.response, {"Idempotent-Replayed": "true"}))
    stored: list[Reply] = []
    tenant_id = ctx.tenant_id

    def answer(tx: Tx, charged: handlers.Charged) -> None:
        # a card payment's outcome: its answer commits with it (handlers.Context)
        reply = replies.charged(charged)
        if reply.status < 500 and reply.final:
            finish_idempotency(tx, tenant_id, key, reply.status, reply.body)
            tx.when_applied(lambda: stored.append(reply))

    ctx = Context(ctx.tenant_id, ctx.correlation_id, key, claim.resource_id, answer)
    try:
        reply = operation(ctx)
    except ApiError as exc:
        reply = replies.error(exc)
    except (PaymentError, InvalidTransition) as exc:
        reply = replies.error(replies.refusal(exc))
    except Exception:
        # even after an answer was stored: its transaction may not have committed, and a
        # retry of a payment that did complete answers it again from the payment
        deps.requests.release(ctx.tenant_id, key)
        raise
    if stored:
        return _respond(stored[-1])  # what a retry replays
    if reply.status >= 500 or not reply.final:
        deps.requests.release(ctx.tenant_id, key)
    else:
        deps.requests.finish(ctx.tenant_id, key, reply.status, reply.body)
    return _respond(reply)


# -- seed 003 ---------------------------------------------------------------------------


@payments.post("/payment/process")
def process_payment() -> Response:
    deps, body = _deps(), _valid_body("/payment/process")
    req = parsing.payment_request(body, deps.settings.default_currency)
    return _idempotent(body, lambda ctx: replies.charged(handlers.process_payment(deps, ctx, req)))


@payments.post("/payment/refund")
def refund_payment() -> Response:
    deps, body = _deps(), _valid_body("/payment/refund")
    req = parsing.refund_request(body)
    return _idempotent(body, lambda ctx: replies.refunded(handlers.refund_payment(deps, ctx, req)))


@payments.get("/payment/status/<transaction_id>")
def payment_status(transaction_id: str) -> Response:
    payment = handlers.find(_deps(), _context(), transaction_id)
    return _respond(Reply(200, replies.status(payment)))


@payments.get("/payment/methods")
def payment_methods() -> Response:
    return jsonify({"payment_methods": PAYMENT_METHODS})


# -- added on top of the seed -----------------------------------------------------------


@payments.post("/payment/intents")
def create_intent() -> Response:
    deps, body = _deps(), _valid_body("/payment/intents")
    req = parsing.payment_request(body, deps.settings.default_currency)
    return _idempotent(
        body, lambda ctx: replies.intent_opened(handlers.create_intent(deps, ctx, req))
    )


@payments.post("/payment/<transaction_id>/cancel")
def cancel_payment(transaction_id: str) -> Response:
    deps, body = _deps(), _valid_body("/payment/{transaction_id}/cancel", optional=True)
    reason = body.get("reason")
    return _idempotent(
        body,
        lambda ctx: replies.cancellation(
            handlers.cancel_payment(deps, ctx, transaction_id, reason)
        ),
    )


@payments.get("/payment/<transaction_id>/timeline")
def payment_timeline(transaction_id: str) -> Response:
    deps = _deps()
    payment = handlers.find(deps, _context(), transaction_id)
    entries = deps.storage.timeline(payment.id)
    return jsonify({"transaction_id": payment.id, "status": payment.status, "entries": entries})


@payments.get("/payments")
def list_payments() -> Response:
    deps = _deps()
    ctx = _context()
    page, limit, status = parsing.page_args()
    items, total = deps.storage.list_payments(ctx.tenant_id, page=page, limit=limit, status=status)
    return jsonify(
        {
            "payments": [replies.status(p) for p in items],
            "pagination": {
                "page": page,
                "limit": limit,
                "total": total,
                "pages": (total + limit - 1) // limit,
            },
        }
    )


@provider_hooks.post("/payment/webhook")
def provider_webhook() -> Response:
    payload = request.get_data(cache=False)
    signature = request.headers.get("Stripe-Signature")
    return _respond(replies.webhook(handlers.handle_webhook(_deps(), payload, signature)))


# -- the factory ------------------------------------------------------------------------


def _request_log(app: Flask) -> None:
    @app.before_request
    def _started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed, 2),
                    "tenant": g.get("tenant_id"),
                }
            },
        )
        return response


def create_app(
    settings: PaymentSettings,
    *,
    provider: PaymentProvider | None = None,
    engine: Engine | None = None,
    bookings: Bookings | None = None,
) -> Flask:
    """The payment API; real provider, database and appointment service unless given."""
    provider = provider or StripeProvider(
        settings.provider_api_key,
        settings.provider_url,
        timeout_s=settings.provider_timeout_s,
        max_network_retries=settings.provider_max_network_retries,
        pool_size=settings.threads,
    )

    def provider_check() -> dict[str, dict[str, Any]]:
        check: dict[str, Any] = {"ok": True, "url": settings.provider_url}
        try:
            provider.ping()
        except GatewayError as exc:
            check.update(ok=False, error=exc.message)
        return {"provider": check}

    if bookings is None and settings.appointments_url:
        bookings = AppointmentDirectory(
            settings.appointments_url,
            timeout_s=settings.appointments_timeout_s,
            pool_size=settings.threads,
        )

    def deps(engine: Engine) -> Deps:
        return Deps(Storage(engine), RequestStore(engine), provider, settings, bookings)

    app = service_app.service_app(
        SERVICE_NAME,
        tables.metadata,
        settings,
        deps,
        engine=engine,
        blueprints=(payments, provider_hooks),
        checks=provider_check,
        # a provider that does not answer makes payments 502, not the service unready
        advisory=("provider",),
        sections=lambda: {"webhooks": {"configured": bool(settings.webhook_secret)}},
    )

    @app.errorhandler(PaymentError)
    @app.errorhandler(InvalidTransition)
    def _refused(exc: PaymentError | InvalidTransition) -> Response:
        return web.error_response(replies.refusal(exc))

    _request_log(app)
    limiter = Limiter(
        get_remote_address,
        app=app,
        application_limits=list(settings.rate_limits),
        headers_enabled=True,
        storage_uri=settings.rate_limit_storage_uri,
        enabled=settings.rate_limit_enabled,
    )
    limiter.exempt(service_app.meta)
    limiter.exempt(provider_hooks)
    return app
