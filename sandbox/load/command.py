"""The ``sandbox load`` command: its thresholds, a fault plan run beside the load, and
the run itself (``run_load``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sandbox.load.fault_log import summary
from sandbox.load.fault_runner import FaultRunner, SandboxControls
from sandbox.load.schedule import Schedule
from sandbox.settings import SandboxSettings
from sandbox.topology import Topology, build


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


def render_summary(summary: dict[str, Any]) -> str:
    """The few lines a person reads after a load: flows, latency per flow type, verdicts."""
    from loadtests.options import Summary, render

    fields = {k: v for k, v in summary.items() if k != "passed"}
    return render(Summary(**fields))


def full_tables(out_dir: Path) -> str:
    """Where the whole of Locust's figures are, for whoever wants more than the summary."""
    return (
        f"full tables in {out_dir}: locust_stats.csv (every request type), "
        "locust_stats_history.csv, locust_failures.csv, locust.html (charts), locust.log "
        "(Locust's own output), summary.json"
    )


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


def run_load(args: argparse.Namespace, settings: SandboxSettings) -> int:
    """``sandbox load``: start a sandbox unless one runs, run Locust (and a fault plan),
    then reconcile every started flow; the exit code of the CLI."""
    from sandbox.control import lifecycle
    from sandbox.control.ownership import supervisor_running
    from sandbox.control.state import StateFile, SupervisorClient
    from sandbox.load.faults import FaultPlanError, load_schedule, unknown_targets
    from sandbox.load.run import (
        Endpoints,
        LoadError,
        LoadPlan,
        default_out_dir,
        read_summary,
        run_locust,
    )

    schedule = None
    if args.faults:
        try:
            schedule = load_schedule(Path(args.faults), seed=args.seed)
        except FaultPlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(schedule.render() + f"\n(repeat this schedule with --seed {schedule.seed})")
    elif args.seed is not None:
        print("error: --seed goes with --faults FILE", file=sys.stderr)
        return EXIT_USAGE
    out_dir = Path(args.out) if args.out else default_out_dir(settings.state_dir)
    earlier = sorted((out_dir / "ledger").glob("flows-*.jsonl"))
    if earlier:
        print(
            f"error: {out_dir} holds the flow ledger of an earlier load ({len(earlier)} "
            "file(s)); the reconciliation would account for those flows too: give another "
            "--out or remove that folder",
            file=sys.stderr,
        )
        return EXIT_USAGE
    p95, failure_ratio, settle_s, lenient = load_thresholds(
        args.max_e2e_p95_ms, args.max_failure_ratio, args.settle, faults=schedule is not None
    )
    if lenient:
        print(f"note: {lenient}")
    state = StateFile(settings.state_dir).read()
    started_here = not (state and supervisor_running(state))
    random_ports = bool(getattr(args, "random_ports", False))
    booted = EXIT_OK
    if started_here:
        booted = lifecycle.up(settings.state_dir, profile="load", random_ports=random_ports)
    if booted != EXIT_OK:
        return booted  # 3 when no broker could be had, else 1
    try:
        endpoints = Endpoints.of_sandbox(settings.state_dir)
        components = StateFile(settings.state_dir).read().get("components") or {}
        nodes = [str(n.get("name")) for n in SupervisorClient(settings.state_dir).broker_nodes()]
        missing = unknown_targets(schedule, components, nodes) if schedule else []
        if missing:
            print(f"error: this sandbox has no {', '.join(missing)} to fault", file=sys.stderr)
            return EXIT_USAGE
        if endpoints.profile != "load":
            print(
                f"error: the running sandbox uses profile {endpoints.profile!r}, whose payment "
                "rate limits would turn a load into 429s; restart it with "
                "`sandbox down && sandbox up --profile load`",
                file=sys.stderr,
            )
            return EXIT_USAGE
        plan = LoadPlan(
            out_dir=out_dir,
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration=args.duration,
            flows_per_s=args.flows_per_s,
            declined_ratio=args.declined_ratio,
            flow_timeout=args.flow_timeout,
            workers=args.workers,
            user_classes=tuple(c.strip() for c in args.user_classes.split(",") if c.strip()),
            max_e2e_p95_ms=p95,
            max_failure_ratio=failure_ratio,
            min_flows_per_s=args.min_flows_per_s,
            quiet=True,  # Locust's periodic tables go to locust.log; the summary is printed
        )
        print(
            f"load: {plan.users} users ({', '.join(plan.user_classes)}) for {plan.duration}; "
            f"Locust's output in {plan.out_dir / 'locust.log'}",
            flush=True,
        )
        topology = build(settings.broker)
        with faults_during_load(
            schedule, settings.state_dir, topology, plan.out_dir, plan.ledger_dir
        ):
            code = run_locust(plan, endpoints)
        summary = read_summary(plan)
        print(render_summary(summary), flush=True)
        verdict = EXIT_OK
        if args.reconcile:
            from sandbox.load.reconcile import run_command

            print("reconciling every started flow ...", flush=True)
            verdict = run_command(
                plan.ledger_dir,
                settings.state_dir,
                build(settings.broker),
                as_json=False,
                settle_s=settle_s,
                fault_log=plan.out_dir / "faults.jsonl" if schedule else None,
            )
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if started_here:
            lifecycle.down(settings.state_dir)
    print(full_tables(plan.out_dir))
    if code != 0 or not summary.get("passed", False) or verdict != EXIT_OK:
        return EXIT_FAILED
    return EXIT_OK
