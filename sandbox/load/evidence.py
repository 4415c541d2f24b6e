"""What a running sandbox kept about its flows, read in bulk for the reconciliation.

``SandboxSources.snapshot`` reads every source once: the appointments (the tenant's
listing page by page when there are many, else GETs on a bounded pool), the whole mock
SMTP inbox, every callback the mock merchant recorded, and the dead-letter queues,
peeked (the messages stay where they are). It keeps only what the reconciliation needs:
ids, states, templates, routing keys and dead-letter reasons, never payloads, addresses
or card data.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import requests

from mocks.clients import MerchantClient, SmtpClient
from sandbox.messaging.envelope import CORRELATION_HEADER, IncomingMessage
from sandbox.messaging.tools import depths, peek
from sandbox.topology import Topology

PAGE = 100  # the appointment listing's largest page
CLOCK_SKEW_S = 300.0  # a listing page this much older than the first flow ends the search
MAX_PEEK = 50_000
REASON_CHARS = 160


class SourceUnavailable(RuntimeError):
    """A service, a mock or the broker could not be read."""


@dataclass(frozen=True)
class AppointmentState:
    status: str
    payment_status: str
    payment_id: str | None = None


@dataclass(frozen=True)
class Email:
    correlation_id: str
    template: str
    event_id: str | None = None
    message_id: str | None = None  # the notifier's, one per event and template
    received_at: float | None = None  # epoch seconds, when the mock SMTP server took it


@dataclass(frozen=True)
class Callback:
    correlation_id: str
    routing_key: str
    event_id: str | None
    outcome: str = "accepted"  # the mock merchant's: accepted, duplicate, rejected, failed
    received_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class DeadLetter:
    correlation_id: str | None
    reason: str  # "<dlq>: <event> <why> (<exception>)", short, no payload


@dataclass(frozen=True)
class Snapshot:
    """One read of every source."""

    appointments: Mapping[str, AppointmentState]  # by appointment id
    emails: Sequence[Email] = ()
    callbacks: Sequence[Callback] = ()
    dead_letters: Sequence[DeadLetter] = ()
    merchant_configured: bool = True
    busy: bool = False  # the broker's work or retry queues hold messages
    warnings: tuple[str, ...] = ()


class Sources(Protocol):
    def snapshot(self, wanted: Sequence[tuple[str, str]], since: float) -> Snapshot:
        """Read everything; appointments only for ``wanted`` (tenant, appointment id)
        pairs, created at ``since`` (epoch seconds) or later."""
        ...


class SandboxSources:
    """The running sandbox at ``endpoints`` (component name -> URL) as a source."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        broker_url: str,
        topology: Topology,
        *,
        workers: int = 8,
        list_above: int = 100,
        timeout_s: float = 30.0,
    ) -> None:
        missing = [n for n in ("appointment", "smtp") if not endpoints.get(n)]
        if missing:
            raise SourceUnavailable(f"no endpoint for {', '.join(missing)} in this sandbox")
        self.endpoints = {k: v.rstrip("/") for k, v in endpoints.items() if v}
        self.broker_url = broker_url
        self.topology = topology
        self.workers = workers
        self.list_above = list_above  # more appointments than this: page the listings
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def snapshot(self, wanted: Sequence[tuple[str, str]], since: float) -> Snapshot:
        warnings: list[str] = []
        try:
            appointments = self.appointments(wanted, since)
            emails = self.emails(warnings)
            merchant = "merchant" in self.endpoints
            callbacks = self.callbacks(warnings) if merchant else []
        finally:
            self.close()
        dead, busy = self.dead_letters(warnings)
        return Snapshot(appointments, emails, callbacks, dead, merchant, busy, tuple(warnings))

    def close(self) -> None:
        """Close the HTTP sessions of the last read (the pool's threads are gone)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        self._local = threading.local()
        for session in sessions:
            session.close()

    def _session(self) -> requests.Session:
        # a requests session is not shared between threads: one per thread that reads
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        response = self._session().get(url, timeout=self.timeout_s, **kwargs)
        if response.status_code != 404:
            response.raise_for_status()
        return response

    def appointments(
        self, wanted: Sequence[tuple[str, str]], since: float
    ) -> dict[str, AppointmentState]:
        per_tenant: dict[str, set[str]] = defaultdict(set)
        for tenant, appointment_id in wanted:
            per_tenant[tenant].add(appointment_id)
        found: dict[str, AppointmentState] = {}
        if len(wanted) > self.list_above:
            for tenant, ids in per_tenant.items():
                found.update(self._listed(tenant, ids, since - CLOCK_SKEW_S))
        rest = [(t, i) for t, ids in per_tenant.items() for i in sorted(ids) if i not in found]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for appointment_id, state in pool.map(lambda pair: self._one(*pair), rest):
                if state is not None:
                    found[appointment_id] = state
        return found

    def _listed(self, tenant: str, ids: set[str], oldest: float) -> dict[str, AppointmentState]:
        """Page the tenant's appointments, newest first, until all ``ids`` or older ones."""
        url = f"{self.endpoints['appointment']}/appointments"
        found: dict[str, AppointmentState] = {}
        page = 1
        while len(found) < len(ids):
            params = {"page": page, "limit": PAGE}
            data = self._get(url, params=params, headers={"X-Tenant-Id": tenant}).json()
            items = data.get("items") or []
            found.update(
                (i["appointmentId"], _state(i)) for i in items if i["appointmentId"] in ids
            )
            if len(items) < PAGE or all(_epoch(i.get("createdAt")) < oldest for i in items):
                break
            page += 1
        return found

    def _one(self, tenant: str, appointment_id: str) -> tuple[str, AppointmentState | None]:
        url = f"{self.endpoints['appointment']}/appointments/{appointment_id}"
        response = self._get(url, headers={"X-Tenant-Id": tenant})
        return appointment_id, None if response.status_code == 404 else _state(response.json())

    def emails(self, warnings: list[str]) -> list[Email]:
        inbox = SmtpClient(
            self.endpoints["smtp"], session=self._session(), timeout_s=self.timeout_s
        )
        dropped = inbox.health().get("messages", {}).get("dropped_total", 0)
        if dropped:
            warnings.append(
                f"the mock SMTP inbox dropped its {dropped} oldest message(s) "
                "(MOCK_SMTP_MAX_MESSAGES): a missing email may be one of them"
            )
        return [e for e in map(email_from_summary, inbox.messages()) if e is not None]

    def callbacks(self, warnings: list[str]) -> list[Callback]:
        merchant = MerchantClient(
            self.endpoints["merchant"], session=self._session(), timeout_s=self.timeout_s
        )
        # the total first: callbacks arriving between the two reads only add to the listing
        total = merchant.health().get("callbacks", {}).get("total", 0)
        records = merchant.callbacks()
        if len(records) < total:
            warnings.append(
                f"the mock merchant kept {len(records)} of {total} callbacks "
                "(MOCK_MERCHANT_MAX_RECORDS): a missing callback may be one of the others"
            )
        return [c for c in map(callback_from_record, records) if c is not None]

    def dead_letters(self, warnings: list[str]) -> tuple[list[DeadLetter], bool]:
        """Every dead letter, and whether any work or retry queue holds messages."""
        moving = [q.name for q in self.topology.queues] + [
            q.retry_queue(level)
            for q in self.topology.queues
            for level in range(1, len(self.topology.retry_delays_ms) + 1)
        ]
        dlqs = self.topology.dlqs()
        counts = depths(self.broker_url, [*dlqs, *moving])
        letters: list[DeadLetter] = []
        for queue in dlqs:
            if counts[queue] > MAX_PEEK:
                warnings.append(f"{queue} holds {counts[queue]}; only {MAX_PEEK} were read")
            if counts[queue]:
                read = peek(self.broker_url, queue, min(counts[queue], MAX_PEEK))
                letters += map(dead_letter, read)
        return letters, any(counts[q] for q in moving)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _state(item: Mapping[str, Any]) -> AppointmentState:
    return AppointmentState(
        str(item.get("status")), str(item.get("paymentStatus")), _text(item.get("paymentId"))
    )


def _epoch(stamp: Any) -> float:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # unknown age: never a reason to stop paging


def _when(stamp: Any) -> float | None:
    """Epoch seconds of an ISO 8601 time; None when there is none or it cannot be read."""
    when = _epoch(stamp) if stamp else None
    return None if when is None or math.isinf(when) else when


def email_from_summary(message: Mapping[str, Any]) -> Email | None:
    """An email of the inbox listing (headers grouped by name, any case), if it has a flow."""
    headers = {str(k).lower(): v for k, v in (message.get("headers") or {}).items()}

    def first(name: str) -> str | None:
        values = headers.get(name.lower()) or []
        return str(values[0]).strip() or None if values else None

    correlation_id = first(CORRELATION_HEADER)
    if not correlation_id:
        return None
    template = first("X-Notification-Template") or "?"
    received = _when(message.get("received_at"))
    return Email(correlation_id, template, first("X-Event-Id"), first("Message-ID"), received)


def callback_from_record(record: Mapping[str, Any]) -> Callback | None:
    """A callback attempt the mock merchant recorded, if it names its flow."""
    correlation_id = record.get("correlation_id")
    if not correlation_id:
        return None
    body = record.get("body")
    key = body.get("routingKey") if isinstance(body, dict) else None
    event_id = _text(record.get("event_id"))
    outcome, received = str(record.get("outcome")), _when(record.get("received_at"))
    return Callback(str(correlation_id), str(key or "?"), event_id, outcome, received)


def dead_letter(message: IncomingMessage) -> DeadLetter:
    """Where and why a message was dead-lettered; never its payload."""
    h = message.headers
    why = h.get("x-dead-letter-reason") or h.get("x-first-death-reason") or "unknown"
    cause = " ".join(
        str(p) for p in (h.get("x-exception-class"), h.get("x-exception-message")) if p
    )
    event = h.get("x-original-routing-key") or message.routing_key
    reason = f"{message.queue}: {event} {why}" + (f" ({cause})" if cause else "")
    correlation_id = message.properties.get("correlation_id")
    return DeadLetter(str(correlation_id) if correlation_id else None, reason[:REASON_CHARS])
