"""Which bookings a tenant may pay for: the appointment service's adapter and the rule.

Booking ids that begin ``appt_`` are the appointment service's (its ids are
``appt_<20 hex>``); the payment service pays one only when that service says the
appointment belongs to the caller's tenant: one ``GET /appointments/{id}`` with the
caller's ``X-Tenant-Id``, which the appointment service answers 404 for another
tenant's appointment exactly as for a missing one.  Every other booking id (seed 003's
``BOOK-789012``) is a booking of a system the sandbox does not run, and is accepted.

The check runs before anything is written or sent to the provider, so a refused
booking leaves no payment, no provider intent and no event.  The call has a short
timeout: an appointment service that does not answer is a 503 the client may retry,
never a payment for a booking nobody vouched for.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote

import requests

from sandbox.messaging.envelope import CORRELATION_HEADER
from sandbox.services.common.http import pooled_session
from sandbox.services.common.tenancy import TENANT_HEADER
from sandbox.services.payment.model import PaymentError

log = logging.getLogger(__name__)

APPOINTMENT_PREFIX = "appt_"


class AppointmentsUnavailable(Exception):
    """The appointment service could not say whose appointment it is."""


class Bookings(Protocol):
    def exists(self, tenant_id: str, appointment_id: str, *, correlation_id: str) -> bool:
        """True when ``appointment_id`` is an appointment of ``tenant_id``."""
        ...


class AppointmentDirectory:
    """``Bookings`` over the appointment service's HTTP API."""

    def __init__(self, base_url: str, *, timeout_s: float, pool_size: int = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = pooled_session(self.base_url, pool_size=pool_size)

    def exists(self, tenant_id: str, appointment_id: str, *, correlation_id: str) -> bool:
        url = f"{self.base_url}/appointments/{quote(appointment_id, safe='')}"
        headers = {TENANT_HEADER: tenant_id, CORRELATION_HEADER: correlation_id}
        try:
            response = self._http.get(url, headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise AppointmentsUnavailable(type(exc).__name__) from None
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise AppointmentsUnavailable(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise AppointmentsUnavailable("an answer that is not JSON") from None
        # the service scopes by the header already; the body must agree
        return (
            isinstance(body, dict)
            and body.get("appointmentId") == appointment_id
            and body.get("tenantId") == tenant_id
        )


def ensure_payable(
    bookings: Bookings | None, tenant_id: str, booking_id: str, correlation_id: str
) -> None:
    """Refuse a booking of the appointment service that is not the tenant's (see above)."""
    if bookings is None or not booking_id.startswith(APPOINTMENT_PREFIX):
        return
    try:
        found = bookings.exists(tenant_id, booking_id, correlation_id=correlation_id)
    except AppointmentsUnavailable as exc:
        log.warning(
            "appointment service unavailable for a booking check: %s",
            exc,
            extra={"fields": {"booking_id": booking_id, "tenant": tenant_id}},
        )
        raise PaymentError(
            "APPOINTMENT_SERVICE_UNAVAILABLE",
            "the appointment service did not confirm the booking; retry shortly",
            field="booking_id",
            retry_possible=True,
        ) from None
    if not found:
        log.info(
            "payment refused: no such appointment for the tenant",
            extra={"fields": {"booking_id": booking_id, "tenant": tenant_id}},
        )
        raise PaymentError(
            "BOOKING_NOT_FOUND",
            f"no appointment {booking_id} for this tenant",
            field="booking_id",
        )
