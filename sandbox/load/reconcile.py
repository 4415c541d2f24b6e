"""After a load run, account for every flow it started from what the sandbox kept.

A run writes a ledger of the flows it started (``flows-*.jsonl``, one JSON line per flow,
docs/reconciliation.md). Each flow gets exactly one outcome, judged from the services'
own state and the mocks, read in bulk: the appointments (tenant listings, or GETs on a
bounded pool when there are few), the mock SMTP inbox, the mock merchant's callbacks and
the dead-letter queues (peeked, never drained); ``sandbox.load.evidence`` reads them.

- ``completed`` / ``failed_as_expected``: the appointment reached the outcome the flow
  expected and every notification that outcome owes (``channels_for``) was delivered.
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
seen): what the notifier does when it dies between the receiver's OK and its own record.
Resends are explained up to one per restart of the notifier's consumer; more fail.
The verdict fails on any lost, duplicated or unexpected flow, on unexplained resends, and
on ledger lines it could not read (flows that cannot be accounted for).

Flows still moving are given time: the sources are read again until every flow settled,
or nothing moved between two reads while the broker's work and retry queues were empty,
or the settle time ran out.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sandbox.load.evidence import (
    AppointmentState,
    Callback,
    DeadLetter,
    Email,
    SandboxSources,
    Snapshot,
    Sources,
    SourceUnavailable,
)
from sandbox.services.notifier.handlers import EMAIL, channels_for
from sandbox.topology import Topology
from sandbox.waiting import WaitTimeout, wait_for

COMPLETED = "completed"
FAILED_AS_EXPECTED = "failed_as_expected"
PARKED = "parked_in_dlq"
REJECTED = "rejected"
UNEXPECTED = "unexpected_outcome"
LOST = "lost"
OUTCOMES = (COMPLETED, FAILED_AS_EXPECTED, PARKED, REJECTED, UNEXPECTED, LOST)

CONFIRMED = "confirmed"
PAYMENT_FAILED = "payment_failed"
CANCELLED = "cancelled"
# The events behind each finished outcome, hence (channels_for) what each one is owed.
EVENTS_BEHIND = {
    CONFIRMED: ("payment.created", "payment.completed", "appointment.confirmed"),
    PAYMENT_FAILED: ("payment.created", "payment.failed"),
}
EDGE_CHARS = 120  # of a client's error text in a detail (it may quote a response body)
DELIVERED = ("accepted", "duplicate")  # the mock merchant's outcomes of a delivered callback
# Sends the emails and callbacks. Killed between the receiver's OK and its own record, it
# sends that one again when the event comes back: one resend per restart is explained.
RESENDER = "notifier-consumer"
MOCK_RECORDS = {"smtp": "email", "merchant": "merchant callback"}


class LedgerError(ValueError):
    """The ledger directory holds no flow files."""


# -- the ledger --------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedFlow:
    """One ledger line: a flow the load started."""

    correlation_id: str
    tenant_id: str
    kind: str
    expected: str
    started_at: float
    appointment_id: str | None = None
    payment_ref: str | None = None
    edge_error: str | None = None


@dataclass(frozen=True)
class Ledger:
    flows: tuple[StartedFlow, ...]
    files: int = 1
    problems: tuple[str, ...] = ()  # lines that could not be read: flows not accounted for


def read_ledger(directory: Path) -> Ledger:
    """Every ``flows-*.jsonl`` in ``directory``; a correlation id twice keeps the first."""
    paths = sorted(Path(directory).glob("flows-*.jsonl"))
    if not paths:
        raise LedgerError(f"no flows-*.jsonl files in {directory}")
    flows: dict[str, StartedFlow] = {}
    problems: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    flow = _parse_flow(json.loads(line))
                except (ValueError, TypeError) as exc:
                    problems.append(f"{path.name}:{number}: {exc}")
                    continue
                if flow.correlation_id in flows:
                    problems.append(f"{path.name}:{number}: {flow.correlation_id} started twice")
                    continue
                flows[flow.correlation_id] = flow
    return Ledger(tuple(flows.values()), len(paths), tuple(problems))


def _parse_flow(data: Any) -> StartedFlow:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("correlation_id", "tenant_id", "expected") if not data.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if data["expected"] not in EVENTS_BEHIND:
        raise ValueError(f"expected must be one of {', '.join(EVENTS_BEHIND)}")
    return StartedFlow(
        correlation_id=str(data["correlation_id"]),
        tenant_id=str(data["tenant_id"]),
        kind=str(data.get("kind") or "?"),
        expected=str(data["expected"]),
        started_at=float(data.get("started_at") or 0.0),
        appointment_id=_text(data.get("appointment_id")),
        payment_ref=_text(data.get("payment_ref")),
        edge_error=_text(data.get("edge_error")),
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# -- classification ----------------------------------------------------------------------


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


# -- the verdict -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """How the flows started before a moment (the last fault's end) finished after it."""

    since: float  # epoch seconds
    what: str  # what happened then, e.g. "broker started again"
    before: int  # flows started before it
    unfinished: int  # of those, not completed or failed as expected
    untimed: int  # of those, finished without a time (a source that keeps none)
    worst_s: float | None  # the latest finish, in seconds after ``since`` (<= 0: before)
    worst: str | None  # its correlation id

    def render(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.since))
        head = f"recovery: {self.before} flow(s) started before {self.what} at {stamp}"
        if not self.before:
            return head
        if self.worst_s is None:
            return f"{head}; none of them has a finish time"
        done = self.before - self.unfinished
        when = (
            f"{self.worst_s:.1f} s after it"
            if self.worst_s > 0
            else f"{-self.worst_s:.1f} s before it was over"
        )
        lines = [f"{head}; {done} finished, the last {when} ({self.worst})"]
        if self.unfinished:
            lines.append(f"  {self.unfinished} of them did not finish (see above)")
        if self.untimed:
            lines.append(f"  {self.untimed} finished without a recorded time")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        worst_s = None if self.worst_s is None else round(self.worst_s, 3)
        return {**asdict(self), "worst_s": worst_s}


@dataclass(frozen=True)
class Verdict:
    flows: tuple[FlowResult, ...]
    ledger_files: int = 0
    ledger_problems: tuple[str, ...] = ()
    other_dead_letters: int = 0  # dead letters of no flow in this ledger
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    resend_allowance: int = 0  # restarts of the process that sends (RESENDER)

    def having(self, outcome: str) -> list[FlowResult]:
        return [f for f in self.flows if f.outcome == outcome]

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.outcome for f in self.flows)
        extra = {"duplicated": len(self.duplicated), "resent": len(self.resent)}
        return {**{o: counted[o] for o in OUTCOMES}, **extra}

    @property
    def lost(self) -> list[FlowResult]:
        return self.having(LOST)

    @property
    def duplicated(self) -> list[FlowResult]:
        return [f for f in self.flows if f.duplicates]

    @property
    def resent(self) -> list[FlowResult]:
        return [f for f in self.flows if f.resent]

    @property
    def resends(self) -> int:
        return sum(f.resends for f in self.flows)

    @property
    def too_many_resends(self) -> bool:
        return self.resends > self.resend_allowance

    def recovery(self, since: float, what: str) -> Recovery:
        """How the flows started before ``since`` finished: when the last one did."""
        before = [f for f in self.flows if f.started_at < since]
        finished = [f for f in before if f.outcome in (COMPLETED, FAILED_AS_EXPECTED)]
        timed = [f for f in finished if f.finished_at is not None]
        last = max(timed, key=lambda f: f.finished_at or 0.0, default=None)
        return Recovery(
            since,
            what,
            len(before),
            len(before) - len(finished),
            len(finished) - len(timed),
            None if last is None else (last.finished_at or 0.0) - since,
            None if last is None else last.correlation_id,
        )

    @property
    def parked_reasons(self) -> dict[str, int]:
        return dict(Counter(f.detail for f in self.having(PARKED)).most_common())

    @property
    def ok(self) -> bool:
        failing = self.lost or self.duplicated or self.having(UNEXPECTED)
        return not failing and not self.ledger_problems and not self.too_many_resends

    def moving(self) -> frozenset[tuple[str, str, str]]:
        """The flows that may still change, with what was seen of them."""
        return frozenset(
            (f.correlation_id, f.outcome, f.detail) for f in self.flows if not f.settled
        )

    def to_dict(self) -> dict[str, Any]:
        listed = (PARKED, REJECTED, UNEXPECTED, LOST)
        return {
            "ok": self.ok,
            "flows": len(self.flows),
            "counts": self.counts,
            **{o: [f.to_dict() for f in self.having(o)] for o in listed},
            "parked_reasons": self.parked_reasons,
            "duplicated": [f.to_dict() for f in self.duplicated],
            "resent": [f.to_dict() for f in self.resent],
            "resends": self.resends,
            "resend_allowance": self.resend_allowance,
            "ledger_files": self.ledger_files,
            "ledger_problems": list(self.ledger_problems),
            "other_dead_letters": self.other_dead_letters,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }

    def _resent_title(self) -> str:
        allowed = self.resend_allowance
        if self.too_many_resends:
            why = f"FAILED: {self.resends} resend(s), {allowed} {RESENDER} restart(s) explain"
        else:
            why = f"{self.resends} resend(s), within one per {RESENDER} restart ({allowed})"
        return f"resent, {why}"

    def render(self, limit: int = 20) -> str:
        """A table of counts, then the flows that need a look (``limit`` per section)."""
        verdict = "ok" if self.ok else "FAILED"
        lines = [
            f"reconciliation of {len(self.flows)} flows from {self.ledger_files} ledger file(s)"
            f" in {self.seconds:.1f} s: {verdict}",
            "",
        ]
        for name, n in self.counts.items():
            note = "  (also counted in their outcome)" if name not in OUTCOMES else ""
            lines.append(f"  {name.replace('_', ' '):<22} {n:>7}{note}")
        width = max((len(f.correlation_id) for f in self.flows), default=0)
        sections = [
            (LOST, [(f, f.detail) for f in self.lost]),
            ("duplicated", [(f, ", ".join(f.duplicates)) for f in self.duplicated]),
            (self._resent_title(), [(f, ", ".join(f.resent)) for f in self.resent]),
            (UNEXPECTED, [(f, f.detail) for f in self.having(UNEXPECTED)]),
            (REJECTED, [(f, f.detail) for f in self.having(REJECTED)]),
        ]
        for title, rows in sections:
            if rows:
                heading = title.replace("_", " ") if title in OUTCOMES else title
                lines += ["", f"{heading} ({len(rows)}):"]
                lines += [
                    f"  {f.correlation_id:<{width}}  {f.kind:<8}  {d}" for f, d in rows[:limit]
                ]
                lines += [f"  ... and {len(rows) - limit} more"] if len(rows) > limit else []
        extra = [
            ("parked in DLQ, by reason", [f"{n:>6}  {r}" for r, n in self.parked_reasons.items()]),
            ("ledger lines not read", list(self.ledger_problems)),
            ("warnings", list(self.warnings)),
        ]
        if self.other_dead_letters:
            extra.append(("dead letters of other flows", [str(self.other_dead_letters)]))
        for title, texts in extra:
            if texts:
                lines += ["", f"{title}:", *(f"  {t}" for t in texts[:limit])]
        return "\n".join(lines)


def judge(
    ledger: Ledger, snapshot: Snapshot, seconds: float = 0.0, resend_allowance: int = 0
) -> Verdict:
    ours = {f.correlation_id for f in ledger.flows}
    return Verdict(
        resend_allowance=resend_allowance,
        flows=tuple(classify(ledger.flows, snapshot)),
        ledger_files=ledger.files,
        ledger_problems=ledger.problems,
        other_dead_letters=sum(d.correlation_id not in ours for d in snapshot.dead_letters),
        warnings=snapshot.warnings,
        seconds=seconds,
    )


def settle(
    ledger: Ledger,
    sources: Sources,
    *,
    timeout_s: float = 30.0,
    interval_s: float = 1.0,
    resend_allowance: int = 0,
) -> Verdict:
    """Read and judge until every flow settled, nothing moves on a quiet broker, or timeout.

    Appointments are read again only for the flows that may still move; the inbox, the
    callbacks and the DLQs are read whole each time (a duplicate may arrive late).
    """
    began = time.monotonic()
    known: dict[str, AppointmentState] = {}
    rounds: list[tuple[Verdict, bool]] = []  # the last read only: (verdict, broker busy)
    errors: list[str] = []

    def probe() -> Verdict | None:
        moving = {m[0] for m in rounds[-1][0].moving()} if rounds else None
        flows = [f for f in ledger.flows if moving is None or f.correlation_id in moving]
        wanted = [(f.tenant_id, f.appointment_id) for f in flows if f.appointment_id]
        try:
            snapshot = sources.snapshot(wanted, min((f.started_at for f in flows), default=0.0))
        except Exception as exc:  # a source still coming up; say which if it never does
            errors.append(f"{type(exc).__name__}: {exc}")
            return None
        known.update(snapshot.appointments)
        snapshot = replace(snapshot, appointments=known)
        verdict = judge(ledger, snapshot, time.monotonic() - began, resend_allowance)
        quiet = bool(rounds) and not snapshot.busy and not rounds[-1][1]
        still = bool(rounds) and verdict.moving() == rounds[-1][0].moving()
        rounds[:] = [(verdict, snapshot.busy)]
        return verdict if not verdict.moving() or (quiet and still) else None

    try:
        return wait_for(probe, timeout=timeout_s, what="every flow to settle", interval=interval_s)
    except WaitTimeout:
        if not rounds:
            raise SourceUnavailable(errors[-1] if errors else "no source answered") from None
        last, busy = rounds[-1]
        notes = [f"the last read failed: {e}" for e in errors[-1:]]
        if busy and last.moving():
            notes.append(
                f"{timeout_s:g} s of settling ran out with {len(last.moving())} flow(s) unfinished "
                "and messages still in work or retry queues: some may yet finish (reconcile "
                "again, or give a longer settle time)"
            )
        warnings = last.warnings + tuple(notes)
        return replace(last, warnings=warnings, seconds=time.monotonic() - began)


# -- entry points ------------------------------------------------------------------------


def endpoints_from_state(state: Mapping[str, Any]) -> dict[str, str]:
    """Component name -> URL, from a running sandbox's state (``.sandbox/state.json``)."""
    components = state.get("components") or {}
    return {name: str(c["endpoint"]) for name, c in components.items() if c.get("endpoint")}


def reconcile(
    ledger_dir: Path,
    endpoints: Mapping[str, str],
    broker_url: str,
    topology: Topology,
    *,
    settle_s: float = 30.0,
    restarts: Mapping[str, int] | None = None,
) -> Verdict:
    """Account for every flow in ``ledger_dir`` against the sandbox at ``endpoints``.

    ``restarts`` (process name -> times the supervisor restarted it) sets how many resends
    are explained, and says when a mock lost what it had recorded.
    """
    restarts = restarts or {}
    ledger = read_ledger(Path(ledger_dir))
    sources = SandboxSources(endpoints, broker_url, topology)
    verdict = settle(
        ledger, sources, timeout_s=settle_s, resend_allowance=restarts.get(RESENDER, 0)
    )
    notes = restart_warnings(restarts)
    return replace(verdict, warnings=verdict.warnings + notes) if notes else verdict


def restart_warnings(restarts: Mapping[str, int]) -> tuple[str, ...]:
    """A mock that was restarted kept nothing from before: what it misses may be there."""
    return tuple(
        f"the {name} mock was restarted {restarts[name]} time(s) and lost what it had "
        f"recorded before: a missing {what} may have been delivered"
        for name, what in MOCK_RECORDS.items()
        if restarts.get(name)
    )


def restarts_from_state(state: Mapping[str, Any]) -> dict[str, int]:
    """Process name -> restarts so far, from a running sandbox's state."""
    components = state.get("components") or {}
    return {name: int(c.get("restarts") or 0) for name, c in components.items()}


def run_command(
    ledger_dir: Path,
    state_dir: Path,
    topology: Topology,
    *,
    as_json: bool,
    settle_s: float,
    fault_log: Path | None = None,
) -> int:
    """``sandbox reconcile``: 0 when ok, 1 when not, 2 without a ledger or a sandbox.

    With ``fault_log`` (a load's ``faults.jsonl``) it also says how the flows started
    before the last fault was over finished after it (``Verdict.recovery``).
    """
    from sandbox.load.fault_runner import last_fault_end, read_log
    from sandbox.state import NotRunning, SupervisorClient

    try:
        ended = last_fault_end(read_log(fault_log)) if fault_log else None
    except OSError as exc:
        print(f"error: cannot read the fault log: {exc}", file=sys.stderr)
        return 2
    try:
        state = SupervisorClient(state_dir).state()
        broker_url = str((state.get("broker") or {}).get("url") or "")
        verdict = reconcile(
            ledger_dir,
            endpoints_from_state(state),
            broker_url,
            topology,
            settle_s=settle_s,
            restarts=restarts_from_state(state),
        )
    except (LedgerError, NotRunning, SourceUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    recovery = verdict.recovery(*ended) if ended else None
    if as_json:
        report = verdict.to_dict()
        if recovery:
            report["recovery"] = recovery.to_dict()
        print(json.dumps(report, indent=2))
    else:
        print(verdict.render() + (f"\n\n{recovery.render()}" if recovery else ""))
    return 0 if verdict.ok else 1
