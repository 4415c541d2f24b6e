"""Classification: one outcome per started flow, judged from a snapshot of the sandbox.

- ``completed`` / ``failed_as_expected``: the appointment reached the outcome the flow
  expected and every notification that outcome owes was delivered (the emails and
  merchant callbacks of ``contracts/notifications.yaml``).
- ``parked_in_dlq``: unfinished, and an event of the flow waits in a DLQ with its reason.
- ``rejected``: the client was told it failed (booking refused, or a payment request that
  failed at the client and did not complete on the server).
- ``unexpected_outcome``: finished, silently, in the other outcome (a declined card
  confirmed, a charged card failed) or cancelled.
- ``lost``: started, not visible to the client, and found unfinished or nowhere.

Independently, a flow is *duplicated* when it has two emails of one template under
different Message-IDs, two merchant callbacks accepted for one event, or two events of
one kind (a state changed twice). It is *resent* when the same email came again under
its Message-ID, or the merchant answered a callback ``duplicate`` (its idempotency key was
seen).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.contracts.owed import EMAIL, channels_for
from sandbox.load.evidence import AppointmentState, Callback, DeadLetter, Email, Snapshot
from sandbox.load.ledger import (
    CANCELLED,
    CONFIRMED,
    EVENTS_BEHIND,
    PAYMENT_FAILED,
    StartedFlow,
)

COMPLETED = "completed"
FAILED_AS_EXPECTED = "failed_as_expected"
PARKED = "parked_in_dlq"
REJECTED = "rejected"
UNEXPECTED = "unexpected_outcome"
LOST = "lost"
OUTCOMES = (COMPLETED, FAILED_AS_EXPECTED, PARKED, REJECTED, UNEXPECTED, LOST)
EDGE_CHARS = 120  # of a client's error text in a detail (it may quote a response body)
DELIVERED = ("accepted", "duplicate")  # the mock merchant's outcomes of a delivered callback


@dataclass(frozen=True)
class FlowResult:
    correlation_id: str
    kind: str
    outcome: str
    detail: str
    duplicates: tuple[str, ...] = ()
    settled: bool = True  # False: the server side may still move
    resent: tuple[str, ...] = ()
    resends: int = 0
    started_at: float = 0.0
    finished_at: float | None = None  # its last email or callback, once it finished

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"correlation_id": self.correlation_id, "kind": self.kind}
        data.update(outcome=self.outcome, detail=self.detail)
        if self.duplicates:
            data["duplicates"] = list(self.duplicates)
        if self.resent:
            data["resent"] = list(self.resent)
        return data


def owed(outcome: str, merchant_configured: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(email templates, routing keys of merchant callbacks) a finished outcome is owed."""
    emails: set[str] = set()
    callbacks: set[str] = set()
    for key in EVENTS_BEHIND[outcome]:
        for channel, template in channels_for(key, merchant_configured):
            if channel == EMAIL:
                emails.add(template)
            else:  # the merchant callback, known on the merchant's side by its routing key
                callbacks.add(key)
    return frozenset(emails), frozenset(callbacks)


def classify(flows: Sequence[StartedFlow], snapshot: Snapshot) -> list[FlowResult]:
    """One result per flow; the sources are indexed once, so this is linear in their size."""
    emails, callbacks, dead = (
        _by_flow(snapshot.emails),
        _by_flow(snapshot.callbacks),
        _by_flow(snapshot.dead_letters),
    )
    dues = {o: owed(o, snapshot.merchant_configured) for o in EVENTS_BEHIND}
    return [
        _classify(
            flow,
            snapshot.appointments.get(flow.appointment_id or ""),
            emails.get(flow.correlation_id, []),
            callbacks.get(flow.correlation_id, []),
            dead.get(flow.correlation_id, []),
            dues,
        )
        for flow in flows
    ]


def _by_flow(items: Iterable[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        if item.correlation_id:
            grouped[item.correlation_id].append(item)
    return grouped


def _classify(
    flow: StartedFlow,
    appointment: AppointmentState | None,
    emails: list[Email],
    callbacks: list[Callback],
    dead: list[DeadLetter],
    dues: Mapping[str, tuple[frozenset[str], frozenset[str]]],
) -> FlowResult:
    duplicates, resent, resends = _repeats(emails, callbacks)

    def result(outcome: str, detail: str, settled: bool = True) -> FlowResult:
        finished_at = None
        if outcome in (COMPLETED, FAILED_AS_EXPECTED):
            times = [e.received_at for e in emails]
            times += [c.received_at for c in callbacks if c.outcome in DELIVERED]
            finished_at = max((t for t in times if t is not None), default=None)
        return FlowResult(
            flow.correlation_id,
            flow.kind,
            outcome,
            detail,
            duplicates,
            settled,
            resent,
            resends,
            flow.started_at,
            finished_at,
        )

    parked = "; ".join(sorted({d.reason for d in dead}))
    if flow.appointment_id is None:
        return result(REJECTED, f"booking failed at the client: {_short(flow.edge_error)}")
    if appointment is None:
        if dead:
            return result(PARKED, parked)
        return result(LOST, f"appointment {flow.appointment_id} not found", settled=False)
    seen = (
        f"appointment {flow.appointment_id} {appointment.status}, "
        f"payment {appointment.payment_status}"
    )
    finished = _finished(appointment)
    if finished == CANCELLED:
        return result(UNEXPECTED, f"expected {flow.expected}; {seen}")
    if finished is None:
        if dead:
            return result(PARKED, parked)
        if flow.edge_error:
            return result(REJECTED, f"client saw {_short(flow.edge_error)}; {seen}", False)
        return result(LOST, seen + _no_payment(appointment), settled=False)
    want_emails, want_callbacks = dues[finished]
    missing = [f"email {t}" for t in sorted(want_emails - {e.template for e in emails})]
    delivered = {c.routing_key for c in callbacks if c.outcome in DELIVERED}
    missing += [f"merchant callback {k}" for k in sorted(want_callbacks - delivered)]
    if missing:
        if dead:
            return result(PARKED, parked)
        return result(LOST, f"{seen}; missing {', '.join(missing)}", settled=False)
    if finished == flow.expected:
        return result(COMPLETED if finished == CONFIRMED else FAILED_AS_EXPECTED, seen)
    if flow.edge_error:  # a gateway failure the provider may still turn into a payment
        return result(REJECTED, f"client saw {_short(flow.edge_error)}; {seen}", False)
    return result(UNEXPECTED, f"expected {flow.expected}; {seen}")


def _finished(appointment: AppointmentState) -> str | None:
    if appointment.status in (CONFIRMED, CANCELLED):
        return appointment.status
    return PAYMENT_FAILED if appointment.payment_status == "failed" else None


def _short(edge_error: str | None) -> str:
    text = " ".join((edge_error or "no appointment id").split())
    return text if len(text) <= EDGE_CHARS else text[: EDGE_CHARS - 3] + "..."


def _no_payment(appointment: AppointmentState) -> str:
    return "" if appointment.payment_id else " (no payment.created seen)"


def _repeats(
    emails: list[Email], callbacks: list[Callback]
) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """(duplicates, resends described, resends counted) of one flow's emails and callbacks.

    A duplicate is a second effect: two emails of one template under different
    Message-IDs, two callbacks the merchant accepted for one event, a state that changed
    twice. A resend is the same email again under its Message-ID, or a callback the
    merchant answered ``duplicate`` (its idempotency key was seen).
    """
    duplicates: list[str] = []
    resent: list[str] = []
    resends = 0
    per_template: dict[str, list[Email]] = defaultdict(list)
    for email in emails:
        per_template[email.template].append(email)
    for template, copies in sorted(per_template.items()):
        keys = Counter(e.message_id or e.event_id or f"#{i}" for i, e in enumerate(copies))
        if len(keys) > 1:
            events = {e.event_id for e in copies}
            how = "same event" if len(events) == 1 else f"{len(events)} events"
            duplicates.append(f"email {template} x{len(keys)} ({how}, distinct Message-IDs)")
        again = sum(n - 1 for n in keys.values())
        if again:
            resends += again
            resent.append(f"email {template} resent x{again} under its Message-ID")
    accepted = Counter(c.event_id for c in callbacks if c.outcome == "accepted" and c.event_id)
    for event_id, n in sorted(accepted.items()):
        if n > 1:
            duplicates.append(f"merchant callback for event {event_id} x{n}")
    answered = Counter(c.event_id for c in callbacks if c.outcome == "duplicate" and c.event_id)
    for event_id, n in sorted(answered.items()):
        resends += n
        resent.append(f"merchant callback for event {event_id} resent x{n} (answered duplicate)")
    per_key: dict[str, set[str | None]] = defaultdict(set)
    for callback in callbacks:
        if callback.outcome in DELIVERED:
            per_key[callback.routing_key].add(callback.event_id)
    for key, distinct_events in sorted(per_key.items()):
        if len(distinct_events) > 1:
            n = len(distinct_events)
            duplicates.append(f"{key} x{n} (state changed {n} times)")
    return tuple(duplicates), tuple(resent), resends
