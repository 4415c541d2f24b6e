"""Count the SQL a card flow sends to PostgreSQL, statement by statement.

Makes a fresh database with ``log_min_duration_statement = 0`` (every statement logged
with its server-side duration), boots a private sandbox on it (profile ``load``, random
ports), runs card flows at ``--rate`` for ``--seconds`` after a warm-up, reads that
window of the server's log and prints, per statement shape: how often a flow runs it and
the server time it took (parse, bind and execute together).  Transactions are counted
per server process: every ``BEGIN``, plus every statement run outside one (autocommit).
The database is dropped afterwards.

    .venv/bin/python benchmarks/pg_census.py [--rate 8] [--seconds 20] [--top 40]

It needs the server's log as a readable file (Debian's clusters write
``/var/log/postgresql/postgresql-<version>-main.log``; ``--log`` names another).  The
durations include the logging itself: use them to compare statements, and
``flow_bench.py --database postgresql`` for CPU.
"""

from __future__ import annotations

import argparse
import collections
import glob
import logging
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import database
from flow_bench import measured_step, sandbox, users_for

from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints

ENTRY = re.compile(
    r"\[(?P<pid>\d+)\] postgres@(?P<db>\S+) LOG:  duration: (?P<ms>[\d.]+) ms  "
    r"(?P<kind>statement|execute|parse|bind)[^:]*: (?P<sql>.*)"
)
PLACEHOLDERS = re.compile(r"\$\d+(::\w+)?(, \$\d+(::\w+)?)*")


def server_log(named: str | None) -> Path:
    if named:
        return Path(named)
    found = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    if not found:
        raise SystemExit("no PostgreSQL server log found; name it with --log")
    return Path(found[-1])


def records(text: str) -> list[str]:
    """The log's entries, each continuation line (a tab first) joined to its entry."""
    joined: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def census(text: str, database: str) -> tuple[dict[str, list[float]], int, int]:
    """By statement shape: [runs, server ms]; and the statements and transactions run."""
    shapes: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    in_transaction: dict[str, bool] = {}
    statements = transactions = 0
    for entry in records(text):
        match = ENTRY.search(entry)
        if not match or match["db"] != database:
            continue
        shape = PLACEHOLDERS.sub("$n", match["sql"])
        shapes[shape][1] += float(match["ms"])
        if match["kind"] not in ("statement", "execute"):
            continue  # parse and bind: time of the statement that executes next
        shapes[shape][0] += 1
        statements += 1
        word = shape.split(None, 1)[0].upper() if shape.strip() else ""
        pid = match["pid"]
        if word == "BEGIN":
            in_transaction[pid] = True
            transactions += 1
        elif word in ("COMMIT", "ROLLBACK"):
            in_transaction[pid] = False
        elif not in_transaction.get(pid):
            transactions += 1
    return shapes, statements, transactions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=8.0, help="card flows per second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--log", help="the PostgreSQL server's log file")
    args = parser.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    log_file = server_log(args.log)
    users = users_for(args.rate)
    with (
        database("postgresql", {"log_min_duration_statement": "0"}) as env,
        tempfile.TemporaryDirectory(prefix="pg-census-") as tmp,
        sandbox(None, {}, env) as state_dir,
    ):
        name = env["DATABASE_URL"].rsplit("/", 1)[1]
        state = StateFile(state_dir).read()
        endpoints = Endpoints.of_sandbox(state_dir)
        out = Path(tmp)
        # warm-up: pools filled, statements prepared
        measured_step(state, endpoints, out / "warm", users=users, seconds=10, rate=args.rate)
        start = log_file.stat().st_size
        summary, _ = measured_step(
            state, endpoints, out / "census", users=users, seconds=args.seconds, rate=args.rate
        )
        end = log_file.stat().st_size
    with log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode(errors="replace")
    shapes, statements, transactions = census(text, name)
    flows = max(summary["flows_completed"], 1)
    server_ms = sum(ms for _, ms in shapes.values())
    print(
        f"\n{flows} card flows at {args.rate:g} flows/s: {statements / flows:.1f} statements "
        f"in {transactions / flows:.1f} transactions per flow, "
        f"{server_ms / flows:.2f} ms of logged server time per flow\n"
    )
    print("| per flow | server ms per flow | statement |\n|---|---|---|")
    ranked = sorted(shapes.items(), key=lambda item: -item[1][1])
    for shape, (runs, ms) in ranked[: args.top]:
        print(f"| {runs / flows:.2f} | {ms / flows:.3f} | `{shape[:160]}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
