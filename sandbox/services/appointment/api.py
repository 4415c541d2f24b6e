"""The appointment service's HTTP API (SPEC section 4): a blueprint and its app factory.

Requests are validated against ``contracts/http/appointment.openapi.yaml`` (contract
first); the commands themselves are in ``handlers``.  Tenancy comes from ``X-Tenant-Id``
(default tenant when absent), the correlation id from ``X-Correlation-Id``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import Engine

from sandbox.services.appointment import handlers, rules, storage
from sandbox.services.appointment.handlers import Clock, utc_now
from sandbox.services.appointment.rules import Appointment, NewAppointment
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common import app as service_app
from sandbox.services.common import tenancy, web
from sandbox.services.common.openapi import OpenApiDocument
from sandbox.services.common.times import iso
from sandbox.services.common.web import ApiError
from sandbox.topology import APPOINTMENT_SERVICE

STATUSES = (rules.PENDING_CONFIRMATION, rules.CONFIRMED, rules.CANCELLED)
MAX_LIMIT = 100
MAX_PAGE = 100_000


@dataclass(frozen=True)
class _Context:
    settings: AppointmentSettings
    store: AppointmentStore
    now: Clock


bp = Blueprint("appointments", __name__)


def _ctx() -> _Context:
    return service_app.context(_Context)


def _tenant() -> str:
    return tenancy.tenant(_ctx().settings.default_tenant)


def appointment_json(appt: Appointment) -> dict[str, Any]:
    return {
        "appointmentId": appt.id,
        "tenantId": appt.tenant_id,
        "customerId": appt.customer_id,
        "customerName": appt.customer_name,
        "customerEmail": appt.customer_email,
        "service": appt.service,
        "startTime": appt.start_time,
        "price": float(appt.price),
        "currency": appt.currency,
        "status": appt.status,
        "paymentStatus": appt.payment_status,
        "paymentId": appt.payment_id,
        "paymentError": web.recorded_error(appt.payment_error_code, appt.payment_error_message),
        "refundedAmount": float(appt.refunded_amount) if appt.refunded_amount is not None else None,
        "cancellationReason": appt.cancellation_reason,
        "createdAt": iso(appt.created_at),
        "updatedAt": iso(appt.updated_at),
    }


def _price(value: Any) -> Decimal:
    try:
        price = Decimal(repr(value))
    except InvalidOperation:
        raise ApiError("INVALID_PRICE", "price must be a number", 422, field="price") from None
    exponent = price.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        raise ApiError(
            "INVALID_PRICE", "price may have at most two decimals (75.00)", 422, field="price"
        )
    return price.quantize(Decimal("0.01"))


def _validate_booking(document: OpenApiDocument, body: dict[str, Any]) -> None:
    """Check a new booking against the contract; a price that is no price is INVALID_PRICE."""
    try:
        document.validate_body("post", "/appointments", body, "INVALID_REQUEST")
    except ApiError as exc:
        price = body.get("price")
        is_number = isinstance(price, int | float) and not isinstance(price, bool)
        if exc.details.get("field") == "price" and is_number:
            raise ApiError(
                "INVALID_PRICE",
                "price must be more than 0 and at most 999999.99, with at most two decimals "
                "(75.00)",
                422,
                field="price",
            ) from None
        raise


def _start_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            "INVALID_REQUEST",
            "startTime must be an RFC 3339 date-time with an offset (2025-06-01T10:00:00Z)",
            422,
            field="startTime",
        )
    return moment.isoformat()


def _not_found(appointment_id: str) -> ApiError:
    return ApiError(
        "APPOINTMENT_NOT_FOUND",
        f"no appointment {appointment_id!r} for this tenant",
        404,
        field="appointment_id",
    )


@bp.post("/appointments")
def create_appointment() -> tuple[Response, int, dict[str, str]]:
    ctx = _ctx()
    tenant = _tenant()
    body = web.json_object()
    _validate_booking(service_app.info().openapi, body)
    new = NewAppointment(
        customer_id=body.get("customerId") or f"cust_{uuid.uuid4().hex[:16]}",
        customer_name=body["customerName"],
        customer_email=body["customerEmail"],
        service=body["service"],
        start_time=_start_time(body["startTime"]),
        price=_price(body["price"]),
        currency=body["currency"],
    )
    appt = handlers.create_appointment(
        ctx.store.unit_of_work,
        new,
        tenant_id=tenant,
        correlation_id=web.correlation_id(),
        now=ctx.now,
    )
    return jsonify(appointment_json(appt)), 201, {"Location": f"/appointments/{appt.id}"}


@bp.get("/appointments")
def list_appointments() -> Response:
    ctx = _ctx()
    tenant = _tenant()
    page = web.query_int("page", 1, MAX_PAGE)
    limit = web.query_int("limit", 20, MAX_LIMIT)
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(
            "INVALID_STATUS", f"status must be one of {', '.join(STATUSES)}", field="status"
        )
    result = ctx.store.page(tenant, page=page, limit=limit, status=status)
    return jsonify(
        {
            "items": [appointment_json(a) for a in result.items],
            "page": page,
            "limit": limit,
            "total": result.total,
        }
    )


@bp.get("/appointments/<appointment_id>")
def get_appointment(appointment_id: str) -> Response:
    ctx = _ctx()
    appt = ctx.store.get(_tenant(), appointment_id)
    if appt is None:
        raise _not_found(appointment_id)
    return jsonify(appointment_json(appt))


@bp.post("/appointments/<appointment_id>/cancel")
def cancel_appointment(appointment_id: str) -> Response:
    ctx = _ctx()
    tenant = _tenant()
    body = web.json_object() if request.get_data() else {}
    service_app.info().openapi.validate_body(
        "post", "/appointments/{appointment_id}/cancel", body, "INVALID_REQUEST"
    )
    try:
        appt = handlers.cancel_appointment(
            ctx.store.unit_of_work,
            tenant_id=tenant,
            appointment_id=appointment_id,
            reason=body.get("reason"),
            correlation_id=web.correlation_id(),
            now=ctx.now,
        )
    except handlers.AppointmentNotFound:
        raise _not_found(appointment_id) from None
    except handlers.AlreadyCancelled:
        raise ApiError(
            "APPOINTMENT_ALREADY_CANCELLED",
            f"appointment {appointment_id!r} is already cancelled",
            409,
        ) from None
    return jsonify(appointment_json(appt))


def create_app(
    settings: AppointmentSettings, *, engine: Engine | None = None, now: Clock = utc_now
) -> Flask:
    """The appointment API over ``engine`` (default: the settings' database)."""
    return service_app.service_app(
        APPOINTMENT_SERVICE,
        storage.metadata,
        settings,
        lambda engine: _Context(settings, AppointmentStore(engine), now),
        engine=engine,
        blueprints=(bp,),
    )
