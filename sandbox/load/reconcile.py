"""After a load run, account for every flow it started from what the sandbox kept.

A run writes a ledger of the flows it started (``sandbox.load.ledger``). Each flow gets
exactly one outcome (``sandbox.load.classify``), judged from the services' own state and
the mocks, read in bulk by ``sandbox.load.evidence``: the appointments, the mock SMTP
inbox, the mock merchant's callbacks and the dead-letter queues (peeked, never drained).
``sandbox.load.verdict`` reads until the flows settle and says whether the run held.
This module ties them to a running sandbox: ``sandbox reconcile``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from sandbox.control.stack import replica_of
from sandbox.load.evidence import SandboxSources, SourceUnavailable
from sandbox.load.ledger import LedgerError, read_ledger
from sandbox.load.verdict import RESENDER, Verdict, settle
from sandbox.topology import Topology

MOCK_RECORDS = {"smtp": "email", "merchant": "merchant callback"}


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
    lanes: Mapping[str, int] | None = None,
) -> Verdict:
    """Account for every flow in ``ledger_dir`` against the sandbox at ``endpoints``.

    ``restarts`` (process name -> times the supervisor restarted it) and the sender's
    ``lanes`` set how many resends are explained; ``restarts`` also says when a mock
    lost what it had recorded.
    """
    restarts = restarts or {}
    ledger = read_ledger(Path(ledger_dir))
    sources = SandboxSources(endpoints, broker_url, topology)
    allowance = resend_allowance(restarts, lanes)
    verdict = settle(ledger, sources, timeout_s=settle_s, resend_allowance=allowance)
    notes = restart_warnings(restarts)
    return replace(verdict, warnings=verdict.warnings + notes) if notes else verdict


def resend_allowance(restarts: Mapping[str, int], lanes: Mapping[str, int] | None = None) -> int:
    """Resends explained: per restart of the sender or of any of its replicas, one for each
    of its lanes (``lanes``, 1 when not given).  A lane records each delivery right after
    it; a SIGKILL can catch every lane between a delivery and its record."""
    lanes = lanes or {}
    return sum(
        count * max(1, lanes.get(name, 1))
        for name, count in restarts.items()
        if RESENDER in (name, replica_of(name))
    )


def lanes_from_health(state: Mapping[str, Any]) -> dict[str, int]:
    """The sender's replicas -> their lanes, as each one's ``/health`` reports them
    (``consumer.concurrency``); a replica that does not answer is left out."""
    found: dict[str, int] = {}
    for name, component in (state.get("components") or {}).items():
        url = component.get("health_url")
        if RESENDER not in (name, replica_of(name)) or not url:
            continue
        try:
            body = requests.get(url, timeout=2).json()
            found[name] = int(body["consumer"]["concurrency"])
        except (requests.RequestException, ValueError, KeyError, TypeError):
            continue
    return found


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
    from sandbox.control.state import NotRunning, SupervisorClient
    from sandbox.load.fault_log import last_fault_end, read_log

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
            lanes=lanes_from_health(state),
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
