"""CPU per flow across ways of running the sandbox, in one run, so the ratios hold.

Each configuration boots its own sandbox (profile ``load``, random ports) and measures,
from rest, a fixed-rate step (``--rate`` flows/s) and a saturation step (``--users``
closed-loop users): completed flows/s, the card flow's latency, and CPU milliseconds per
completed flow for every process of the sandbox plus the PostgreSQL server's (every
process called ``postgres`` on the machine, which the sandbox then has to itself).

    sqlite          every service on its SQLite file (the default)
    postgresql      every service on one fresh PostgreSQL database (DATABASE_URL)
    cluster-pg      a 3-node broker cluster and PostgreSQL
    cluster-pg-x2   the same with 2 replicas of every consumer and relay

Ratios: PostgreSQL against SQLite, and 2 replicas against 1 on the cluster.  Writes
``results.json`` and ``results.md`` to ``--out/<timestamp>/``.

    .venv/bin/python benchmarks/scale_bench.py [--configs sqlite,postgresql] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import database
from bench_report import machine
from flow_bench import HERE, latency_point, log, measured_step

from sandbox.control import lifecycle
from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints

WORKERS: tuple[str, ...] = ("payment-relay", "appointment-consumer", "appointment-relay")
WORKERS += ("notifier-consumer", "notifier-relay")


@dataclass(frozen=True)
class Config:
    name: str
    database: str = "sqlite"
    cluster: int = 1
    scale: dict[str, int] = field(default_factory=dict)


CONFIGS = {
    c.name: c
    for c in (
        Config("sqlite"),
        Config("postgresql", "postgresql"),
        Config("cluster-pg", "postgresql", cluster=3),
        Config("cluster-pg-x2", "postgresql", cluster=3, scale=dict.fromkeys(WORKERS, 2)),
    )
}


def measure(config: Config, out: Path, *, rate: float, users: int, seconds: int) -> dict[str, Any]:
    with database(config.database) as env, tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        log(f"{config.name}: sandbox up")
        began = time.perf_counter()
        code = lifecycle.up(
            state_dir,
            profile="load",
            random_ports=True,
            cluster=config.cluster,
            env=env,
            scale=config.scale,
        )
        if code != 0:
            raise SystemExit(f"{config.name}: the sandbox did not start")
        up_s = time.perf_counter() - began
        try:
            state = StateFile(state_dir).read()
            endpoints = Endpoints.of_sandbox(state_dir)
            figures: dict[str, Any] = {"up_s": round(up_s, 1)}
            for step, step_users, step_rate in (
                ("fixed", int(max(10, rate * 3)), rate),
                ("saturation", users, 0.0),
            ):
                summary, cpu = measured_step(
                    state,
                    endpoints,
                    out / config.name / step,
                    users=step_users,
                    seconds=seconds,
                    rate=step_rate,
                    postgres=config.database == "postgresql",
                )
                figures[step] = {
                    **latency_point(step_rate, summary),
                    "cpu_ms_per_flow": cpu,
                    "cpu_ms_per_flow_total": round(sum(cpu.values()), 1),
                }
                log(
                    f"  {step}: {summary['flows_per_s']} flows/s, "
                    f"{figures[step]['cpu_ms_per_flow_total']} ms CPU/flow"
                )
            return figures
        finally:
            lifecycle.down(state_dir)


def ratio(results: dict[str, Any], a: str, b: str, step: str) -> float | None:
    if a not in results or b not in results:
        return None
    top = results[a][step]["cpu_ms_per_flow_total"]
    return round(top / max(results[b][step]["cpu_ms_per_flow_total"], 1e-9), 3)


def markdown(results: dict[str, Any], ratios: dict[str, Any], command: str) -> str:
    lines = [
        f"# Scale bench, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"`{command}` on {machine()}",
        "",
        "| configuration | step | flows/s | p50 ms | p99 ms | CPU ms/flow | of which postgres |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        for step in ("fixed", "saturation"):
            f = figures[step]
            lines.append(
                f"| {name} | {step} | {f['achieved']} | {f['p50']:.0f} | {f['p99']:.0f} | "
                f"{f['cpu_ms_per_flow_total']} | {f['cpu_ms_per_flow'].get('postgres', '')} |"
            )
    lines += ["", "| ratio | fixed | saturation |", "|---|---|---|"]
    for name, pair in ratios.items():
        lines.append(f"| {name} | {pair['fixed']} | {pair['saturation']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(HERE / "results" / "scale"))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--rate", type=float, default=8.0, help="the fixed step's flows/s")
    parser.add_argument("--users", type=int, default=24, help="the saturation step's users")
    parser.add_argument("--seconds", type=int, default=30, help="length of each step")
    args = parser.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    results = {
        name: measure(CONFIGS[name], out, rate=args.rate, users=args.users, seconds=args.seconds)
        for name in names
    }
    ratios = {
        label: {step: ratio(results, a, b, step) for step in ("fixed", "saturation")}
        for label, a, b in (
            ("postgresql / sqlite", "postgresql", "sqlite"),
            ("cluster-pg-x2 / cluster-pg", "cluster-pg-x2", "cluster-pg"),
        )
        if a in results and b in results
    }
    command = " ".join(["benchmarks/scale_bench.py", *sys.argv[1:]])
    (out / "results.json").write_text(
        json.dumps({"command": command, "results": results, "ratios": ratios}, indent=2) + "\n"
    )
    text = markdown(results, ratios, command)
    (out / "results.md").write_text(text)
    print(text)
    log(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
