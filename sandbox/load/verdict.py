"""The verdict over a ledger's classified flows, and the settling loop that reaches it.

The verdict fails on any lost, duplicated or unexpected flow, on unexplained resends, and
on ledger lines it could not read (flows that cannot be accounted for). Resends are
explained up to one per restart of the notifier's consumer. Flows still moving are given
time: the sources are read again until every flow settled, or nothing moved between two
reads while the broker's work and retry queues were empty, or the settle time ran out.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any

from sandbox.load.classify import (
    COMPLETED,
    FAILED_AS_EXPECTED,
    LOST,
    OUTCOMES,
    PARKED,
    REJECTED,
    UNEXPECTED,
    FlowResult,
    classify,
)
from sandbox.load.evidence import AppointmentState, Snapshot, Sources, SourceUnavailable
from sandbox.load.ledger import Ledger
from sandbox.waiting import WaitTimeout, wait_for

# Sends the emails and callbacks. Killed between the receiver's OK and its own record, it
# sends that one again when the event comes back: one resend per restart is explained.
RESENDER = "notifier-consumer"


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
    resend_allowance: int = 0  # restarts of the process that sends (RESENDER) x its lanes

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
            why = (
                f"FAILED: {self.resends} resend(s), {RESENDER} restarts explain {allowed} "
                "(one per lane per restart)"
            )
        else:
            why = (
                f"{self.resends} resend(s), within one per lane per {RESENDER} restart ({allowed})"
            )
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
