"""The notifier's HTTP API: ``/health`` and the audit log ``GET /notifications``.

The audit log is the tenant's own: ``X-Tenant-Id`` (the default tenant when absent, as
in every service) selects whose attempts are listed, and every filter narrows that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import Engine

from sandbox.services.common import app as service_app
from sandbox.services.common import tenancy, web
from sandbox.services.common.times import iso
from sandbox.services.common.web import ApiError
from sandbox.services.notifier import storage
from sandbox.services.notifier.settings import NotifierSettings
from sandbox.services.notifier.storage import Attempt, NotifierStore
from sandbox.topology import NOTIFIER_SERVICE

CHANNELS = ("email", "webhook")
STATUSES = ("sent", "failed")


@dataclass(frozen=True)
class _Context:
    settings: NotifierSettings
    store: NotifierStore


bp = Blueprint("notifier", __name__)


def _ctx() -> _Context:
    return service_app.context(_Context)


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "eventId": attempt.event_id,
        "routingKey": attempt.routing_key,
        "correlationId": attempt.correlation_id,
        "tenantId": attempt.tenant_id,
        "appointmentId": attempt.appointment_id,
        "paymentId": attempt.payment_id,
        "channel": attempt.channel,
        "template": attempt.template,
        "recipient": attempt.recipient,
        "status": attempt.status,
        "attempt": attempt.attempt,
        "error": web.recorded_error(attempt.error_code, attempt.error_message),
        "emailMessageId": attempt.email_message_id,
        "createdAt": iso(attempt.created_at),
    }


def _text_arg(name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or (allowed is not None and value not in allowed):
        expected = f"one of {', '.join(allowed)}" if allowed else "1-255 characters"
        raise ApiError("INVALID_FILTER", f"{name} must be {expected}", field=name)
    return value


@bp.get("/notifications")
def list_notifications() -> Response:
    page = web.query_int("page", 1, 100_000)
    limit = web.query_int("limit", 100, 500)
    ctx = _ctx()
    tenant = tenancy.tenant(ctx.settings.default_tenant)
    attempts, total = ctx.store.notifications(
        tenant,
        correlation_id=_text_arg("correlation_id"),
        event_id=_text_arg("event_id"),
        channel=_text_arg("channel", CHANNELS),
        status=_text_arg("status", STATUSES),
        limit=limit,
        offset=(page - 1) * limit,
    )
    items = [attempt_json(a) for a in attempts]
    return jsonify({"items": items, "page": page, "limit": limit, "total": total})


def create_app(settings: NotifierSettings, *, engine: Engine | None = None) -> Flask:
    """The notifier API over ``engine`` (default: the settings' database)."""
    return service_app.service_app(
        NOTIFIER_SERVICE,
        storage.metadata,
        settings,
        lambda engine: _Context(settings, NotifierStore(engine)),
        engine=engine,
        blueprints=(bp,),
    )
