"""The ``sandbox`` command line.

Exit codes a CI job can gate on: 0 success, 1 a check or scenario failed, 2 bad usage or
configuration, 3 no broker could be found or started, 4 (``contracts diff``) nothing is
known to break but a change could not be decided.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sandbox.exitcodes import EXIT_FAILED, EXIT_NO_BROKER, EXIT_OK, EXIT_UNDECIDED, EXIT_USAGE
from sandbox.settings import SandboxSettings, SettingsError
from sandbox.topology import build


def _broker_url(args: argparse.Namespace, settings: SandboxSettings) -> str:
    """--url, else RABBITMQ_URL, else the broker of the sandbox running here."""
    from sandbox.control.state import StateFile

    url = getattr(args, "url", None) or settings.broker.url
    if not url:
        url = (StateFile(settings.state_dir).read().get("broker") or {}).get("url")
    if not url:
        raise SystemExit(
            "no broker: start the sandbox with `sandbox up`, or pass --url amqp://... "
            "or set RABBITMQ_URL"
        )
    return str(url)


def cmd_topology(args: argparse.Namespace, settings: SandboxSettings) -> int:
    topology = build(settings.broker)
    if args.export:
        definitions = topology.to_definitions(vhost=args.vhost)
        Path(args.export).write_text(json.dumps(definitions, indent=2) + "\n")
        print(f"wrote RabbitMQ definitions for vhost {args.vhost!r} to {args.export}")
    elif args.json:
        print(json.dumps(topology.to_definitions(vhost=args.vhost), indent=2))
    else:
        print(topology.describe())
    return EXIT_OK


def cmd_dlq_list(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.messaging.tools import depths, peek

    url = _broker_url(args, settings)
    topology = build(settings.broker)
    counts = depths(url, topology.dlqs())
    if args.json:
        result = {q: [m.to_dict() for m in peek(url, q, args.limit)] for q in counts}
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    for queue, count in counts.items():
        print(f"{queue:<40} {count:>6} message(s)")
        for message in peek(url, queue, args.limit) if count else []:
            h = message.headers
            print(
                f"    {message.properties.get('message_id', '?'):<34} "
                f"{h.get('x-original-routing-key', message.routing_key):<22} "
                f"{h.get('x-dead-letter-reason', '?')}: {h.get('x-exception-message', '')}"
            )
    return EXIT_OK


def cmd_dlq_replay(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.messaging.tools import replay_dlq

    url = _broker_url(args, settings)
    topology = build(settings.broker)
    queue = args.queue if args.queue.endswith(".dlq") else f"{args.queue}.dlq"
    try:
        moved = replay_dlq(url, topology, queue, limit=args.limit)
    except KeyError as exc:
        return _usage_error(exc.args[0])
    print(f"replayed {moved} message(s) from {queue}")
    return EXIT_OK


def cmd_contracts_check(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.contracts import run_check

    report = run_check(args.dir, build(settings.broker).to_contract_view())
    if args.junit:
        Path(args.junit).write_text(report.to_junit_xml())
    _print_report(report.to_dict(), report.render_text, as_json=args.json)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_contracts_diff(args: argparse.Namespace, settings: SandboxSettings) -> int:
    import tempfile

    from sandbox.contracts import DiffError, diff_contracts, export_git_ref

    head = Path(args.dir) if args.dir else Path("contracts")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base = export_git_ref(Path(args.repo), args.base, Path(tmp))
        except DiffError as exc:
            return _usage_error(str(exc))
        report = diff_contracts(base, head, base_label=args.base)
    _print_report(report.to_dict(), report.render_table, as_json=args.json)
    if report.breaking:
        return EXIT_FAILED
    return EXIT_UNDECIDED if report.undecided else EXIT_OK


def _print_report(data: dict[str, Any], render: Callable[[], str], *, as_json: bool) -> None:
    """Print a report as JSON (``--json``) or as the text ``render`` makes for people."""
    print(json.dumps(data, indent=2) if as_json else render())


def cmd_up(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import up
    from sandbox.control.stack import parse_scale

    if args.cluster > 1 and settings.broker.url:
        return _usage_error(
            f"--cluster {args.cluster} starts private nodes, but RABBITMQ_URL is set; "
            "unset it, or drop --cluster to use the broker it names"
        )
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    try:
        scale = parse_scale(args.scale)
    except ValueError as exc:
        return _usage_error(str(exc))
    return up(
        settings.state_dir,
        as_json=args.json,
        timeout_s=args.timeout,
        only=only,
        profile=args.profile,
        random_ports=args.random_ports,
        cluster=args.cluster,
        scale=scale,
    )


def cmd_down(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import down

    return down(settings.state_dir)


def cmd_status(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import status

    return status(settings.state_dir, as_json=args.json)


def cmd_logs(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import logs

    return logs(settings.state_dir, args.service, args.lines)


def cmd_scenario_list(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.scenario.runner import discover

    for name, scenario in discover().items():
        print(f"{name:<32} {scenario.description}")
    return EXIT_OK


def cmd_scenario_run(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control import lifecycle
    from sandbox.control.ownership import supervisor_running
    from sandbox.control.state import StateFile
    from sandbox.scenario.runner import discover, run_one, write_reports

    catalog = discover()
    names = list(catalog) if args.all else args.names
    unknown = [n for n in names if n not in catalog]
    if not names or unknown:
        print(
            f"unknown or no scenario: {unknown or '(none given)'}; known: {', '.join(catalog)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    state = StateFile(settings.state_dir).read()
    started_here = not (state and supervisor_running(state))
    if started_here and lifecycle.up(settings.state_dir) != 0:
        return EXIT_FAILED
    results = []
    try:
        for name in names:
            result = run_one(settings.state_dir, catalog[name])
            results.append(result)
            verdict = "passed" if result.passed else "FAILED"
            print(f"{verdict:<7} {name:<32} {result.duration_s:6.2f} s")
            if result.error:
                print("        " + result.error.splitlines()[0])
    finally:
        if started_here:
            lifecycle.down(settings.state_dir)
    write_reports(
        results,
        junit=Path(args.junit) if args.junit else None,
        report=Path(args.report) if args.report else None,
    )
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_reconcile(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.load.reconcile import run_command

    topology = build(settings.broker)
    return run_command(
        Path(args.ledger),
        settings.state_dir,
        topology,
        as_json=args.json,
        settle_s=args.settle,
        fault_log=Path(args.faults_log) if args.faults_log else None,
    )


def cmd_demo(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.demo import run_demo

    # The demo prints its own timeline; the adapter's log lines would repeat it.
    logging.getLogger("sandbox.messaging").setLevel(logging.ERROR)
    return run_demo(settings, keep=args.keep)


def cmd_load(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.load.command import run_load

    return run_load(args, settings)


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _node_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a node count from 1 to 9")
    return count


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="sandbox", description="Local sandbox and contract-test harness for payment flows."
    )
    sub = root.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole sandbox in the background")
    up.add_argument("--json", action="store_true", help="print the state as JSON when ready")
    up.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for ready")
    up.add_argument("--only", help="start only these components, e.g. provider,smtp")
    up.add_argument(
        "--profile",
        choices=["dev", "load"],
        default="dev",
        help="dev (default): payment rate limits on; load: off, for load tests",
    )
    up.add_argument(
        "--random-ports",
        action="store_true",
        help="use free random ports instead of the usual ones (several sandboxes side by side)",
    )
    up.add_argument(
        "--cluster",
        type=_node_count,
        default=1,
        metavar="N",
        help="run the broker as N private nodes in one cluster (default 1; see docs/cluster.md)",
    )
    up.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="NAME=N",
        help="run N replicas of a web, consumer or relay process, e.g. notifier-consumer=3 "
        "(repeatable; see docs/scaling.md)",
    )
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the sandbox and everything it started")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="health of every process of the running sandbox")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="show the end of each process's log")
    logs.add_argument("service", nargs="?", help="one process, e.g. payment or smtp")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=cmd_logs)

    topo = sub.add_parser("topology", help="print or export the broker topology")
    topo.add_argument("--json", action="store_true", help="print as a definitions document")
    topo.add_argument("--export", metavar="FILE", help="write a RabbitMQ definitions file")
    topo.add_argument("--vhost", default="/", help="vhost for the definitions (default /)")
    topo.set_defaults(func=cmd_topology)

    dlq = sub.add_parser("dlq", help="inspect and replay dead-letter queues")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="count and show dead letters per DLQ")
    dlq_list.add_argument("--url", help="AMQP URL (default: RABBITMQ_URL, else the sandbox's)")
    dlq_list.add_argument("--limit", type=int, default=20, help="messages shown per queue")
    dlq_list.add_argument("--json", action="store_true")
    dlq_list.set_defaults(func=cmd_dlq_list)
    dlq_replay = dlq_sub.add_parser("replay", help="move dead letters back to their queue")
    dlq_replay.add_argument("queue", help="work queue or its DLQ, e.g. payment_events")
    dlq_replay.add_argument("--url", help="AMQP URL (default: RABBITMQ_URL, else the sandbox's)")
    dlq_replay.add_argument("--limit", type=int, default=None, help="at most this many")
    dlq_replay.set_defaults(func=cmd_dlq_replay)

    contracts = sub.add_parser("contracts", help="check contracts; classify changes")
    contracts_sub = contracts.add_subparsers(dest="contracts_command", required=True)
    check = contracts_sub.add_parser("check", help="validate every schema, example and document")
    check.add_argument(
        "--dir",
        default=None,
        help="contracts directory (default: $SANDBOX_CONTRACTS_DIR or the sandbox's own)",
    )
    check.add_argument("--junit", metavar="FILE", help="also write JUnit XML")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_contracts_check)
    diff = contracts_sub.add_parser(
        "diff",
        help="breaking vs compatible changes since a git ref",
        description="Exit 0: every change is compatible; 1: a change breaks a writer or a "
        f"reader; {EXIT_UNDECIDED}: nothing is known to break, but a change could not be "
        "decided (e.g. a pattern beyond the shapes the diff reads): fail or warn on it in CI; "
        "2: the ref or the files cannot be read.",
    )
    diff.add_argument("base", help="git ref to compare with, e.g. main or HEAD~1")
    diff.add_argument("--dir", default=None, help="contracts directory of the working tree")
    diff.add_argument("--repo", default=".", help="git repository (default: .)")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=cmd_contracts_diff)

    scenario = sub.add_parser("scenario", help="list and run scenarios")
    scenario_sub = scenario.add_subparsers(dest="scenario_command", required=True)
    scenario_sub.add_parser("list", help="the scenario catalog").set_defaults(
        func=cmd_scenario_list
    )
    run = scenario_sub.add_parser("run", help="run scenarios against the sandbox")
    run.add_argument("names", nargs="*", help="scenario names (see scenario list)")
    run.add_argument("--all", action="store_true", help="run the whole catalog")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    run.add_argument("--report", metavar="FILE", help="write the HTML report")
    run.set_defaults(func=cmd_scenario_run)

    rec = sub.add_parser("reconcile", help="account for every flow of a load run's ledger")
    rec.add_argument("--ledger", required=True, metavar="DIR", help="holds flows-*.jsonl")
    rec.add_argument("--settle", type=float, default=30.0, help="seconds flows get to finish")
    rec.add_argument("--json", action="store_true")
    rec.add_argument(
        "--faults-log",
        metavar="FILE",
        help="a load's faults.jsonl: also say when the flows started before the last fault "
        "finished",
    )
    rec.set_defaults(func=cmd_reconcile)

    load = sub.add_parser(
        "load",
        help="run the Locust flows headless with pass/fail thresholds",
        description="Drive whole flows with Locust against the running sandbox (profile "
        "load), or boot one for the run. Exit 0 when every threshold holds.",
    )
    load.add_argument("-u", "--users", type=int, default=20, help="concurrent users")
    load.add_argument("-r", "--spawn-rate", type=float, default=10.0, help="users started/s")
    load.add_argument("-t", "--duration", default="30s", help="run time, e.g. 30s, 5m")
    load.add_argument(
        "--flows-per-s", type=float, default=0.0, help="target rate (0: as fast as it goes)"
    )
    load.add_argument("--declined-ratio", type=float, default=0.1)
    load.add_argument("--flow-timeout", type=float, default=30.0, help="seconds per flow")
    load.add_argument(
        "--workers", type=int, default=0, help="distributed: one master and N local workers"
    )
    load.add_argument(
        "--user-classes",
        default="CardFlowUser,IntentFlowUser",
        help="Locust users to run (also: EventPublisherUser)",
    )
    load.add_argument("--out", help="output folder (default .sandbox/load/<time>)")
    load.add_argument(
        "--max-e2e-p95-ms", type=float, default=None, help="default 5000; none with --faults"
    )
    load.add_argument(
        "--max-failure-ratio", type=float, default=None, help="default 0; 1 with --faults"
    )
    load.add_argument("--min-flows-per-s", type=float, default=None)
    load.add_argument(
        "--no-reconcile",
        dest="reconcile",
        action="store_false",
        help="skip accounting for every started flow afterwards",
    )
    load.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds the reconciliation waits for stragglers (default 60; 180 with --faults)",
    )
    load.add_argument(
        "--faults", metavar="FILE", help="a fault plan (YAML/TOML) to run during the load"
    )
    load.add_argument("--seed", type=int, default=None, help="the fault plan's seed")
    load.set_defaults(func=cmd_load)

    demo = sub.add_parser("demo", help="boot the sandbox, run the happy path, show the flow")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    demo.set_defaults(func=cmd_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        settings = SandboxSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from sandbox.broker import BrokerUnavailable
    from sandbox.messaging import BrokerConnectError

    try:
        return int(args.func(args, settings))
    except (BrokerUnavailable, BrokerConnectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER


if __name__ == "__main__":
    raise SystemExit(main())
