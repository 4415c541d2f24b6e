"""The ``sandbox`` command line's arguments; every ``--help`` ends with the exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sandbox.cli import commands, running, scenarios
from sandbox.exitcodes import EXIT_UNDECIDED, help_text

STATE_DIR_HELP = (
    "the sandbox's state directory (default: $SANDBOX_STATE_DIR, else the nearest .sandbox "
    "in this directory or a parent, else ./.sandbox)"
)
RANDOM_PORTS_HELP = (
    "use free random ports instead of the usual ones (several sandboxes side by side)"
)


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions as usual, but keeps the exit-code table as it is written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _common() -> argparse.ArgumentParser:
    """Options every command takes, after its name as well as before it."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand without the option keeps the value given before it
    common.add_argument(
        "--state-dir", metavar="DIR", default=argparse.SUPPRESS, help=STATE_DIR_HELP
    )
    return common


class _Commands:
    """Adds subcommands that all take the common options and list the exit codes."""

    def __init__(self, parent: argparse.ArgumentParser, dest: str) -> None:
        self._sub = parent.add_subparsers(dest=dest, required=True)
        self._common = _common()

    def add(
        self, name: str, help: str, func: Callable[..., int] | None = None, **kwargs: Any
    ) -> argparse.ArgumentParser:
        command = self._sub.add_parser(
            name,
            help=help,
            description=kwargs.pop("description", help[:1].upper() + help[1:] + "."),
            epilog=help_text(),
            formatter_class=_Formatter,
            parents=[self._common],
            **kwargs,
        )
        if func is not None:
            command.set_defaults(func=func)
        return command


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
        prog="sandbox",
        description="Local sandbox and contract-test harness for payment flows.",
        epilog=help_text(),
        formatter_class=_Formatter,
    )
    root.add_argument("--state-dir", metavar="DIR", default=None, help=STATE_DIR_HELP)
    sub = _Commands(root, "command")

    up = sub.add("up", "start the whole sandbox in the background", running.cmd_up)
    up.add_argument("--json", action="store_true", help="print the state as JSON when ready")
    up.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for ready")
    up.add_argument("--only", help="start only these components, e.g. provider,smtp")
    up.add_argument(
        "--profile",
        choices=["dev", "load"],
        default="dev",
        help="dev (default): payment rate limits on; load: off, for load tests",
    )
    up.add_argument("--random-ports", action="store_true", help=RANDOM_PORTS_HELP)
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
    down = sub.add("down", "stop the sandbox and everything it started", running.cmd_down)
    down.add_argument(
        "--purge",
        action="store_true",
        help="on a broker given by RABBITMQ_URL, also delete the queues and exchanges the "
        "sandbox declared (in a vhost of its own they go with the vhost anyway)",
    )
    status = sub.add("status", "health of every process of the running sandbox", running.cmd_status)
    status.add_argument("--json", action="store_true", help="as JSON, even when nothing runs")
    logs = sub.add("logs", "show the end of each process's log", running.cmd_logs)
    logs.add_argument("service", nargs="?", help="one process, e.g. payment or smtp")
    logs.add_argument("-n", "--lines", type=int, default=40, help="lines per log (default 40)")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C"
    )
    logs.add_argument("-c", "--correlation-id", metavar="ID", help="only the lines of this flow")

    topo = sub.add("topology", "print or export the broker topology", commands.cmd_topology)
    topo.add_argument("--json", action="store_true", help="print as a definitions document")
    topo.add_argument("--export", metavar="FILE", help="write a RabbitMQ definitions file")
    topo.add_argument("--vhost", default="/", help="vhost for the definitions (default /)")

    dlq = _Commands(sub.add("dlq", "inspect and replay dead-letter queues"), "dlq_command")
    url_help = "AMQP URL (default: the running sandbox's broker, else RABBITMQ_URL)"
    dlq_list = dlq.add("list", "count and show dead letters per DLQ", commands.cmd_dlq_list)
    dlq_list.add_argument("--url", help=url_help)
    dlq_list.add_argument("--limit", type=int, default=20, help="messages shown per queue")
    dlq_list.add_argument("--json", action="store_true")
    replay = dlq.add("replay", "move dead letters back to their queue", commands.cmd_dlq_replay)
    replay.add_argument("queue", help="work queue or its DLQ, e.g. payment_events")
    replay.add_argument("--url", help=url_help)
    replay.add_argument("--limit", type=int, default=None, help="at most this many")

    contracts = _Commands(
        sub.add("contracts", "check contracts; classify changes"), "contracts_command"
    )
    check = contracts.add(
        "check", "validate every schema, example and document", commands.cmd_contracts_check
    )
    check.add_argument(
        "--dir",
        default=None,
        help="contracts directory (default: $SANDBOX_CONTRACTS_DIR or the sandbox's own)",
    )
    check.add_argument("--junit", metavar="FILE", help="also write JUnit XML")
    check.add_argument("--json", action="store_true")
    diff = contracts.add(
        "diff",
        "breaking vs compatible changes since a git ref",
        commands.cmd_contracts_diff,
        description="Exit 0: every change is compatible; 1: a change breaks a writer or a "
        f"reader; {EXIT_UNDECIDED}: nothing is known to break, but a change could not be "
        "decided (e.g. a pattern beyond the shapes the diff reads): fail or warn on it in CI; "
        "2: the ref or the files cannot be read.",
    )
    diff.add_argument("base", help="git ref to compare with, e.g. main or HEAD~1")
    diff.add_argument("--dir", default=None, help="contracts directory of the working tree")
    diff.add_argument("--repo", default=".", help="git repository (default: .)")
    diff.add_argument("--json", action="store_true")

    scenario = _Commands(sub.add("scenario", "list and run scenarios"), "scenario_command")
    dir_help = "a folder of scenario files (default: the sandbox's own catalog)"
    listing = scenario.add("list", "the scenario catalog", scenarios.cmd_scenario_list)
    listing.add_argument("--dir", metavar="DIR", help=dir_help)
    run = scenario.add(
        "run",
        "run scenarios against the sandbox",
        scenarios.cmd_scenario_run,
        description="Run scenarios against the running sandbox, or boot one for the run. "
        "A scenario is named as `scenario list` shows it (happy-path), by its file name "
        "(happy_path) or by its file (scenarios/happy_path.py). A file that cannot be "
        "loaded fails as a scenario, by name; the others still run.",
    )
    run.add_argument("names", nargs="*", help="scenario names or files (see scenario list)")
    run.add_argument("--all", action="store_true", help="run the whole catalog")
    run.add_argument("--dir", metavar="DIR", help=dir_help)
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    run.add_argument("--report", metavar="FILE", help="write the HTML report")
    run.add_argument("--random-ports", action="store_true", help=RANDOM_PORTS_HELP)

    rec = sub.add(
        "reconcile", "account for every flow of a load run's ledger", commands.cmd_reconcile
    )
    rec.add_argument("--ledger", required=True, metavar="DIR", help="holds flows-*.jsonl")
    rec.add_argument("--settle", type=float, default=30.0, help="seconds flows get to finish")
    rec.add_argument("--json", action="store_true")
    rec.add_argument(
        "--faults-log",
        metavar="FILE",
        help="a load's faults.jsonl: also say when the flows started before the last fault "
        "finished",
    )

    _load_arguments(
        sub.add(
            "load",
            "run the Locust flows headless with pass/fail thresholds",
            commands.cmd_load,
            description="Drive whole flows with Locust against the running sandbox (profile "
            "load), or boot one for the run. Exit 0 when every threshold holds.",
        )
    )

    demo = sub.add("demo", "boot the sandbox, run the happy path, show the flow", commands.cmd_demo)
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    demo.add_argument("--random-ports", action="store_true", help=RANDOM_PORTS_HELP)
    return root


def _load_arguments(load: argparse.ArgumentParser) -> None:
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
    load.add_argument("--random-ports", action="store_true", help=RANDOM_PORTS_HELP)
