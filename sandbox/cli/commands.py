"""The commands that inspect or check: topology, dead letters, contracts, loads, the demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_UNDECIDED, EXIT_USAGE
from sandbox.settings import SandboxSettings
from sandbox.topology import build


def usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def broker_url(args: argparse.Namespace, settings: SandboxSettings) -> str:
    """--url, else the broker of the sandbox running here, else RABBITMQ_URL; probed, so
    that a broker that is down or refuses the login is exit 3, not a traceback later."""
    from sandbox.broker import BrokerUnavailable
    from sandbox.control.state import StateFile
    from sandbox.messaging import BrokerConnectError, probe

    url = getattr(args, "url", None)
    url = url or (StateFile(settings.state_dir).read().get("broker") or {}).get("url")
    url = url or settings.broker.url
    if not url:
        raise BrokerUnavailable(
            "no broker: start the sandbox with `sandbox up`, or pass --url amqp://... "
            "or set RABBITMQ_URL"
        )
    try:
        probe(str(url), timeout=5.0)
    except BrokerConnectError as exc:
        hint = " (wrong user or password?)" if "ACCESS_REFUSED" in str(exc) else ""
        raise BrokerUnavailable(f"{exc}{hint}") from exc
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

    url = broker_url(args, settings)
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

    url = broker_url(args, settings)
    topology = build(settings.broker)
    queue = args.queue if args.queue.endswith(".dlq") else f"{args.queue}.dlq"
    try:
        moved = replay_dlq(url, topology, queue, limit=args.limit)
    except KeyError as exc:
        return usage_error(exc.args[0])
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
            return usage_error(str(exc))
        report = diff_contracts(base, head, base_label=args.base)
    _print_report(report.to_dict(), report.render_table, as_json=args.json)
    if report.breaking:
        return EXIT_FAILED
    return EXIT_UNDECIDED if report.undecided else EXIT_OK


def _print_report(data: dict[str, Any], render: Callable[[], str], *, as_json: bool) -> None:
    """Print a report as JSON (``--json``) or as the text ``render`` makes for people."""
    print(json.dumps(data, indent=2) if as_json else render())


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
    return run_demo(settings, keep=args.keep, random_ports=args.random_ports)


def cmd_load(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.load.command import run_load

    return run_load(args, settings)
