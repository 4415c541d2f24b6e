"""The ``sandbox load`` command's pieces: its thresholds, and a fault plan run beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.load.fault_log import summary
from sandbox.load.fault_runner import FaultRunner, SandboxControls
from sandbox.load.schedule import Schedule
from sandbox.topology import Topology


def new_ledger_file(ledger_dir: Path) -> Callable[[], bool]:
    """True once a Locust process opened its ledger file: the load's test has started."""
    before = set(ledger_dir.glob("flows-*.jsonl"))
    return lambda: bool(set(ledger_dir.glob("flows-*.jsonl")) - before)


@contextmanager
def faults_during_load(
    schedule: Schedule | None,
    state_dir: Path,
    topology: Topology,
    out_dir: Path,
    ledger_dir: Path,
) -> Iterator[FaultRunner | None]:
    """Run ``schedule`` while the body (the load) runs; print the fault log summary after."""
    if schedule is None:
        yield None
        return
    log_path = out_dir / "faults.jsonl"
    runner = FaultRunner(
        schedule,
        SandboxControls(state_dir, topology),
        log_path,
        started=new_ledger_file(ledger_dir),
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        print(summary(runner.records, log_path), flush=True)


def load_thresholds(
    max_e2e_p95_ms: float | None,
    max_failure_ratio: float | None,
    settle_s: float | None,
    faults: bool,
) -> tuple[float | None, float | None, float, str]:
    """The load's thresholds and settle time: the usual defaults, lenient under faults.

    A Locust flow sample may time out while the broker is down (its subscription misses
    what was published meanwhile), so under faults the reconciliation is the verdict.
    """
    if not faults:
        return (
            5000.0 if max_e2e_p95_ms is None else max_e2e_p95_ms,
            0.0 if max_failure_ratio is None else max_failure_ratio,
            60.0 if settle_s is None else settle_s,
            "",
        )
    note = (
        "with faults, Locust's thresholds are lenient unless given (no p95 limit, failure "
        "ratio up to 100%): the reconciliation is the verdict, and any lost or duplicated "
        "flow fails the run"
    )
    ratio = 1.0 if max_failure_ratio is None else max_failure_ratio
    return max_e2e_p95_ms, ratio, 180.0 if settle_s is None else settle_s, note
