"""CPU of every sandbox process at rest or under a paced card-flow load, and PostgreSQL's
server processes by role.

Boots a private sandbox (profile ``load``, random ports; with ``--database postgresql``
on a fresh database, dropped afterwards), lets it settle, and counts each process's CPU
over ``--seconds``: at rest with ``--rate 0`` (what an idle sandbox costs a second), or
while Locust runs card flows at ``--rate`` (CPU ms per completed flow as well). On
PostgreSQL the server's processes are split by role: the backends serving the
sandbox's database, the WAL writer, the checkpointer, autovacuum and the rest.
``--pg-setting NAME=VALUE`` (repeatable) sets a server setting for the database's
sessions, to compare one against the default.

    .venv/bin/python benchmarks/cpu_census.py [--rate 0] [--seconds 30]
        [--database sqlite|postgresql] [--pg-setting synchronous_commit=off]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import assignments, database, postgres_processes
from flow_bench import component_pids, cpu_seconds, drained, load_step, sandbox, users_for

from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints

SETTLE_S = 10  # after boot or warm-up, before counting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=0.0, help="card flows/s; 0: at rest")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    settings = assignments(args.pg_setting, "--pg-setting")
    with (
        database(args.database, settings) as env,
        tempfile.TemporaryDirectory(prefix="cpu-census-") as tmp,
        sandbox(None, {}, env) as state_dir,
    ):
        name = env.get("DATABASE_URL", "").rsplit("/", 1)[-1]
        state = StateFile(state_dir).read()
        endpoints = Endpoints.of_sandbox(state_dir)
        users = users_for(args.rate)
        if args.rate:  # warm-up: pools filled, statements prepared
            load_step(endpoints, Path(tmp) / "warm", users=users, seconds=10, rate=args.rate)
            drained(state)
        time.sleep(SETTLE_S)  # a fixed pause before counting: nothing is awaited here
        pids = component_pids(state)
        before, server_before = cpu_seconds(pids), postgres_processes(name)
        began = time.monotonic()
        flows = 0
        if args.rate:
            summary = load_step(
                endpoints, Path(tmp) / "load", users=users, seconds=args.seconds, rate=args.rate
            )
            flows = summary["flows_completed"]
        else:
            time.sleep(args.seconds)  # at rest: the measurement is the waiting itself
        elapsed = time.monotonic() - began
        after, server_after = cpu_seconds(pids), postgres_processes(name)
    spent = {n: after[n] - before.get(n, 0.0) for n in after}
    for pid, (role, seconds) in server_after.items():
        key = f"postgres: {role}"
        spent[key] = spent.get(key, 0.0) + seconds - server_before.get(pid, (role, 0.0))[1]
    if args.database == "sqlite":
        spent = {n: s for n, s in spent.items() if not n.startswith("postgres")}
    what = f"{flows} card flows at {args.rate:g} flows/s" if args.rate else "at rest"
    print(f"\n{args.database}, {what}, {elapsed:.0f} s\n")
    print("| process | CPU ms per second | CPU ms per flow |\n|---|---|---|")
    for name_, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        per_flow = f"{seconds * 1000 / flows:.2f}" if flows else ""
        print(f"| {name_} | {seconds * 1000 / elapsed:.1f} | {per_flow} |")
    total = sum(spent.values())
    per_flow = f"{total * 1000 / flows:.1f}" if flows else ""
    print(f"| all | {total * 1000 / elapsed:.1f} | {per_flow} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
