"""The ledger of a load run: one JSON line per flow it started (``flows-*.jsonl``).

The load writes it (docs/reconciliation.md); the reconciliation reads it back, keeping
the first line of a correlation id seen twice and naming every line it could not read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIRMED = "confirmed"
PAYMENT_FAILED = "payment_failed"
CANCELLED = "cancelled"
# The events behind each finished outcome, hence (channels_for) what each one is owed.
EVENTS_BEHIND = {
    CONFIRMED: ("payment.created", "payment.completed", "appointment.confirmed"),
    PAYMENT_FAILED: ("payment.created", "payment.failed"),
}


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
