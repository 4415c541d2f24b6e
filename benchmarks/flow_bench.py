"""Benchmark the whole flow against this machine's own ceilings, in one run.

Boots a private sandbox (profile ``load``, random ports) and measures:

(a) raw ceilings, on the sandbox's own broker (a vhost of its own) and the services'
    own WSGI server: pika publish with confirms (BlockingChannel, one at a time) and
    consume + ack; requests per second of a trivial Flask endpoint under the same
    gunicorn setup, driven by the same Locust load generator as the flows;
(b) the sandbox: the outbox relay and the consumer adapter next to (a); completed flows
    per second at saturation (closed loop, more users each step); the idle latency (one
    flow at a time) and the latency at half the saturation rate; end-to-end latency
    percentiles at fixed rates up to 50 flows/s; CPU-seconds per completed flow for
    every process at saturation and at 8 flows/s, which is what bounds the rate on a
    small machine; ``sandbox up`` on a fresh state directory next to a bare private
    broker node start;
(c) the ratios of (b) to (a), with the targets they are held to (``bench_report``).

With ``--database postgresql`` it then compares CPU per flow on PostgreSQL with SQLite's:
``--database-rounds`` rounds (2) of a fresh sandbox on each, alternated, each measured at
saturation and at 8 flows/s; the ratio is of their means (the machine drifts within
minutes, so a single pass of each, minutes apart, read anywhere from 1.1 to 1.5 x for
the same code).

Writes ``results.md``, ``results.json`` and ``latency.png`` (percentiles over load) to
``--out/<timestamp>/`` (with every step's Locust CSV and log), and the table and chart
to ``--out/latest.md`` and ``--out/latest.png``, which the README links.

    .venv/bin/python benchmarks/flow_bench.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import POSTGRES, database, postgres_cpu_s
from bench_report import TARGETS, chart, machine, markdown
from ceilings import broker_ceilings, flask_ceiling

from sandbox.broker import LocalNode
from sandbox.control import lifecycle
from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints, LoadPlan, read_summary, run_locust
from sandbox.messaging.tools import depths
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

HERE = Path(__file__).resolve().parent
CARD = "card → notification.sent"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- (b) the sandbox ----------------------------------------------------------------------


def component_pids(state: dict[str, Any]) -> dict[str, list[int]]:
    """Every process of the sandbox by component, with their children (gunicorn workers)."""
    found: dict[str, list[int]] = {}
    broker = state.get("broker") or {}
    # a cluster broker has no pid of its own: each node has one
    nodes = {
        node.get("name") or f"broker-{i}": node
        for i, node in enumerate(broker.get("nodes") or [], 1)
    }
    entries = {"broker": broker, **nodes, **(state.get("components") or {})}
    for name, entry in entries.items():
        pid = entry.get("pid")
        if not pid:
            continue
        try:
            process = psutil.Process(int(pid))
            found[name] = [process.pid] + [c.pid for c in process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, group in pids.items():
        total = 0.0
        for pid in group:
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
            except psutil.NoSuchProcess:
                continue
        totals[name] = total
    return totals


def load_step(
    endpoints: Endpoints, out: Path, *, users: int, seconds: int, rate: float
) -> dict[str, Any]:
    plan = LoadPlan(
        out_dir=out,
        users=users,
        spawn_rate=max(users, 1),
        duration=f"{seconds}s",
        flows_per_s=rate,
        declined_ratio=0.0,
        flow_timeout=30.0,
        user_classes=("CardFlowUser",),
        quiet=True,
    )
    run_locust(plan, endpoints)
    return read_summary(plan)


def users_for(rate: float) -> int:
    """Locust users for a paced step at ``rate`` flows/s: enough that none falls behind."""
    return int(min(200, max(10, rate * 3)))


def drained(state: dict[str, Any], timeout: float = 180.0) -> None:
    """Wait until every work and retry queue is empty, so a step starts from rest."""
    url = state["broker"]["url"]
    names = [d.name for d in build(BrokerSettings()).declarations() if d.role != "observed"]
    wait_for(
        lambda: not any(depths(url, names).values()),
        timeout=timeout,
        what="the sandbox's queues drained",
        seen=lambda: {k: v for k, v in depths(url, names).items() if v},
    )


def card_latency(summary: dict[str, Any]) -> dict[str, float]:
    return dict(summary["latency_ms"].get(CARD) or {"p50": 0, "p95": 0, "p99": 0, "count": 0})


@contextmanager
def sandbox(
    state_dir: Path | None, startup: dict[str, float], env: dict[str, str] | None = None
) -> Iterator[Path]:
    """A running sandbox: the one at ``state_dir``, or one booted here with ``env`` (timed
    into ``startup["up_s"]``)."""
    if state_dir is not None:
        yield state_dir
        return
    with tempfile.TemporaryDirectory(prefix="flow-bench-") as tmp:
        path = Path(tmp) / "state"
        began = time.perf_counter()
        if lifecycle.up(path, profile="load", random_ports=True, env=env) != 0:
            raise SystemExit("the sandbox did not start; see its logs")
        startup["up_s"] = round(time.perf_counter() - began, 2)
        try:
            yield path
        finally:
            lifecycle.down(path)


def bare_node_start() -> float:
    """Seconds for a private broker node, alone, on a fresh data directory to be booted."""
    with tempfile.TemporaryDirectory(prefix="flow-bench-node-") as tmp:
        node = LocalNode(Path(tmp))
        began = time.perf_counter()
        node.start()
        took = time.perf_counter() - began
        node.stop()
        return round(took, 2)


def startup_rounds(rounds: int) -> dict[str, Any]:
    """Bare node starts and all but the last ``sandbox up`` of ``rounds``, alternated (the
    last ``up`` boots the sandbox the rest of the bench measures: ``with_last_up``)."""
    bare: list[float] = []
    ups: list[float] = []
    for n in range(1, rounds + 1):
        log(f"start-up round {n} of {rounds}: a bare private broker node start")
        bare.append(bare_node_start())
        log(f"  {bare[-1]} s")
        if n < rounds:
            timed: dict[str, float] = {}
            with sandbox(None, timed):
                pass
            ups.append(timed["up_s"])
            log(f"  `sandbox up` on a fresh state directory: {ups[-1]} s")
    return {"bare_node_runs": bare, "up_runs": ups}


def with_last_up(startup: dict[str, Any], up_s: float) -> dict[str, Any]:
    """The start-up figures with the last ``up`` added: medians as ``up_s`` and
    ``bare_node_s``, every run kept."""
    ups = [*startup.get("up_runs", []), up_s]
    bare = startup.get("bare_node_runs") or []
    result = {**startup, "up_runs": ups, "up_s": round(statistics.median(ups), 2)}
    if bare:
        result["bare_node_s"] = round(statistics.median(bare), 2)
    return result


def measured_step(
    state: dict[str, Any],
    endpoints: Endpoints,
    out: Path,
    *,
    users: int,
    seconds: int,
    rate: float,
    postgres: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One load step from rest: its summary and CPU ms per completed flow by process
    (with ``postgres``, the PostgreSQL server's as ``postgres``)."""
    drained(state)
    pids = component_pids(state)
    before = cpu_seconds(pids)
    if postgres:
        before["postgres"] = postgres_cpu_s()
    summary = load_step(endpoints, out, users=users, seconds=seconds, rate=rate)
    after = cpu_seconds(pids)
    if postgres:
        after["postgres"] = postgres_cpu_s()
    done = max(summary["flows_completed"], 1)
    cpu = {n: round((after[n] - before.get(n, 0)) * 1000 / done, 2) for n in after}
    return summary, cpu


def saturation(
    state: dict[str, Any],
    endpoints: Endpoints,
    out: Path,
    users_steps: list[int],
    *,
    seconds: int,
    postgres: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Closed-loop steps of ``users_steps`` users: the best step's summary (with its
    ``users``) and its CPU ms per completed flow by process."""
    best: dict[str, Any] = {"flows_per_s": 0.0}
    best_cpu: dict[str, float] = {}
    for users in users_steps:
        summary, cpu = measured_step(
            state,
            endpoints,
            out / f"saturation-{users}",
            users=users,
            seconds=seconds,
            rate=0,
            postgres=postgres,
        )
        log(
            f"  {users} users: {summary['flows_per_s']} flows/s, "
            f"{summary['flows_failed']} failed, {sum(cpu.values()):.1f} ms CPU per flow"
        )
        if summary["flows_per_s"] > best["flows_per_s"]:
            best, best_cpu = {**summary, "users": users}, cpu
    return best, best_cpu


def cpu_pass(
    state_dir: Path, out: Path, *, users_steps: list[int], seconds: int, postgres: bool
) -> dict[str, Any]:
    """Saturation (the best of ``users_steps``) and 8 flows/s on one sandbox: flows/s and
    CPU ms per completed flow by process, and their totals."""
    state = StateFile(state_dir).read()
    endpoints = Endpoints.of_sandbox(state_dir)
    best, at_saturation = saturation(
        state, endpoints, out, users_steps, seconds=seconds, postgres=postgres
    )
    _, at_8 = measured_step(
        state, endpoints, out / "rate-8", users=24, seconds=seconds, rate=8.0, postgres=postgres
    )
    log(f"  8 flows/s: {sum(at_8.values()):.1f} ms CPU")
    return {
        "saturation_flows_per_s": best["flows_per_s"],
        "saturation_users": best.get("users"),
        "cpu_ms_per_flow": at_saturation,
        "cpu_ms_per_flow_total": round(sum(at_saturation.values()), 1),
        "cpu_ms_per_flow_at_8": at_8,
        "cpu_ms_per_flow_at_8_total": round(sum(at_8.values()), 1),
    }


def compare_databases(
    out: Path, rounds: int, *, users_steps: list[int], seconds: int
) -> dict[str, dict[str, Any]]:
    """``cpu_pass`` on a fresh SQLite sandbox and on a fresh PostgreSQL one, alternated
    (PostgreSQL first in odd rounds, SQLite first in even ones: the machine drifts by
    10-20 % within minutes, and the alternation spreads that drift over both); each
    database's figures as the means of its rounds, with every round's totals."""
    passes: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgresql": []}
    for n in range(1, rounds + 1):
        order = ("postgresql", "sqlite") if n % 2 else ("sqlite", "postgresql")
        for kind in order:
            log(f"round {n} of {rounds}: a fresh sandbox on {kind}")
            with database(kind) as env, sandbox(None, {}, env) as state_dir:
                passes[kind].append(
                    cpu_pass(
                        state_dir,
                        out / f"{kind}-{n}",
                        users_steps=users_steps,
                        seconds=seconds,
                        postgres=kind == "postgresql",
                    )
                )
    return {kind: _mean_pass(results) for kind, results in passes.items()}


def _mean_pass(results: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in results), 2)

    def mean_by_process(key: str) -> dict[str, float]:
        names = {name for r in results for name in r[key]}
        return {n: round(statistics.fmean(r[key].get(n, 0) for r in results), 2) for n in names}

    return {
        "saturation_flows_per_s": mean("saturation_flows_per_s"),
        "cpu_ms_per_flow": mean_by_process("cpu_ms_per_flow"),
        "cpu_ms_per_flow_total": mean("cpu_ms_per_flow_total"),
        "cpu_ms_per_flow_at_8": mean_by_process("cpu_ms_per_flow_at_8"),
        "cpu_ms_per_flow_at_8_total": mean("cpu_ms_per_flow_at_8_total"),
        "rounds": [
            {
                k: r[k]
                for k in (
                    "saturation_flows_per_s",
                    "cpu_ms_per_flow_total",
                    "cpu_ms_per_flow_at_8_total",
                )
            }
            for r in results
        ],
    }


def latency_point(rate: float, summary: dict[str, Any]) -> dict[str, Any]:
    figures = card_latency(summary)
    return {
        "target": rate,
        "achieved": summary["flows_per_s"],
        "failed": summary["flows_failed"],
        **{k: float(figures.get(k, 0)) for k in ("p50", "p95", "p99", "count")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--state-dir", help="use this running sandbox (profile load)")
    parser.add_argument("--quick", action="store_true", help="short steps, for a smoke run")
    parser.add_argument("--fixed-rate", type=float, default=50.0)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: after the run on SQLite, measure CPU per flow on fresh sandboxes, "
        f"one on SQLite and one on a fresh PostgreSQL database ({POSTGRES}) per round, "
        "alternated (the server's processes included), for the ratio of their means",
    )
    parser.add_argument(
        "--database-rounds",
        type=int,
        default=2,
        help="with --database postgresql: rounds of the comparison (one sandbox of each)",
    )
    parser.add_argument(
        "--startup-rounds",
        type=int,
        default=3,
        help="bare node starts and `sandbox up` runs, alternated; the medians are reported "
        "(the last `up` is the sandbox measured next)",
    )
    args = parser.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    step_s = 8 if args.quick else 20
    messages = 1000 if args.quick else 4000
    rates = [5.0, 8.0, 10.0, 20.0, 35.0, args.fixed_rate]
    users_steps = [8, 24] if args.quick else [12, 24, 48]
    when = time.strftime("%Y-%m-%d %H:%M")
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)

    startup: dict[str, Any] = {}
    if not args.state_dir:
        startup = startup_rounds(args.startup_rounds)
    timed: dict[str, float] = {}
    with sandbox(Path(args.state_dir) if args.state_dir else None, timed) as state_dir:
        if timed:
            log(f"  sandbox up: {timed['up_s']} s")
            startup = with_last_up(startup, timed["up_s"])
        state = StateFile(state_dir).read()
        endpoints = Endpoints.of_sandbox(state_dir)
        log("raw broker ceilings, relay and consumer adapter on the sandbox's broker")
        ceilings = broker_ceilings(state, messages)
        log("trivial Flask endpoint")
        ceilings["flask_rps"] = flask_ceiling(out, step_s, users=32)

        log("idle: one flow at a time")
        idle, _ = measured_step(state, endpoints, out / "idle", users=1, seconds=step_s, rate=0)
        idle_point = latency_point(0, idle)
        log(f"  idle p50 {idle_point['p50']:.0f} ms over {idle_point['count']:.0f} flows")

        log(f"saturation: {users_steps} users, {step_s} s each")
        best, cpu_per_flow = saturation(state, endpoints, out, users_steps, seconds=step_s)

        half_rate = round(best["flows_per_s"] / 2, 1)
        log(f"half saturation: {half_rate} flows/s")
        summary, _ = measured_step(
            state,
            endpoints,
            out / "half-saturation",
            users=users_for(half_rate),
            seconds=step_s,
            rate=half_rate,
        )
        half = latency_point(half_rate, summary)
        log(f"  {half}")

        points = []
        cpu_at_8: dict[str, float] = {}
        for rate in rates:
            users = users_for(rate)
            summary, cpu = measured_step(
                state, endpoints, out / f"rate-{rate:g}", users=users, seconds=step_s, rate=rate
            )
            point = latency_point(rate, summary)
            log(f"  {rate:g} flows/s: {point}")
            points.append(point)
            if rate == 8.0:
                cpu_at_8 = cpu

    databases: dict[str, Any] = {}
    if args.database == "postgresql":
        log("PostgreSQL against SQLite: fresh sandboxes, alternated")
        databases = compare_databases(
            out, args.database_rounds, users_steps=users_steps, seconds=step_s
        )

    fixed = points[-1]
    idle_p50 = max(idle_point["p50"], 1e-9)
    sandbox_figures = {
        "relay": ceilings.pop("relay"),
        "adapter_consume": ceilings.pop("adapter_consume"),
        "saturation_flows_per_s": best["flows_per_s"],
        "saturation_users": best.get("users"),
        "saturation_failed": best.get("flows_failed", 0),
        "idle_p50": idle_point["p50"],
        "idle_flows": int(idle_point["count"]),
        "half_saturation": half,
        "fixed": fixed,
        "latency_over_load": points,
        "cpu_ms_per_flow": cpu_per_flow,
        "cpu_ms_per_flow_total": round(sum(cpu_per_flow.values()), 1),
        "cpu_ms_per_flow_at_8": cpu_at_8,
        "cpu_ms_per_flow_at_8_total": round(sum(cpu_at_8.values()), 1) if cpu_at_8 else None,
    }
    ratios = {
        "relay_vs_raw_publish": sandbox_figures["relay"] / ceilings["raw_publish"],
        "consumer_vs_raw_consume": sandbox_figures["adapter_consume"] / ceilings["raw_consume"],
        "flow_vs_flask": sandbox_figures["saturation_flows_per_s"]
        / max(ceilings["flask_rps"], 1e-9),
        "half_p50_vs_idle": half["p50"] / idle_p50,
        "half_p99_vs_idle": half["p99"] / idle_p50,
    }
    if databases:
        pg, lite = databases["postgresql"], databases["sqlite"]
        sandbox_figures["postgresql"] = pg
        sandbox_figures["sqlite_beside_postgresql"] = lite
        ratios["postgresql_vs_sqlite"] = pg["cpu_ms_per_flow_total"] / max(
            lite["cpu_ms_per_flow_total"], 1e-9
        )
        ratios["postgresql_vs_sqlite_at_8"] = pg["cpu_ms_per_flow_at_8_total"] / max(
            lite["cpu_ms_per_flow_at_8_total"], 1e-9
        )
    if startup:
        ratios["up_vs_bare_node"] = startup["up_s"] / max(startup["bare_node_s"], 1e-9)
    results = {
        "when": when,
        "machine": machine(),
        "cores": psutil.cpu_count(),
        "step_s": step_s,
        "ceilings": ceilings,
        "startup": startup,
        "sandbox": sandbox_figures,
        "ratios": ratios,
        "targets": TARGETS,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(points, out / "latency.png")
    text = markdown(results)
    (out / "results.md").write_text(text)
    latest = Path(args.out)
    (latest / "latest.md").write_text(text.replace("(latency.png)", "(latest.png)"))
    shutil.copy(out / "latency.png", latest / "latest.png")
    print(text)
    log(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
