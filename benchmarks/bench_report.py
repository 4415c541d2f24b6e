"""The flow benchmark's report: ``results.md`` (tables with the targets beside each
figure) and the latency-over-load chart."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import psutil

from sandbox.settings import BrokerSettings

# The figures the sandbox is held to, each a ratio within one run (README, "Benchmarks").
TARGETS = {
    "cpu_ms_per_flow": 25.0,  # summed over the sandbox's processes, at saturation
    "cpu_ms_per_flow_at_8": 30.0,  # the same at 8 flows/s
    "flow_vs_flask": 0.04,  # completed flows/s at saturation / trivial Flask req/s
    "half_p50_vs_idle": 2.0,  # p50 at half the saturation rate / idle p50
    "half_p99_vs_idle": 4.0,  # p99 at half the saturation rate / idle p50
    "up_vs_bare_node": 1.5,  # `sandbox up` / a bare private broker node start
    "postgresql_vs_sqlite": 1.3,  # CPU per flow on PostgreSQL (server included) / SQLite
}


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.node()}: {psutil.cpu_count()} cores, {memory:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def chart(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    achieved = [p["achieved"] for p in points]
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        axis.plot(achieved, [p[key] for p in points], style, label=key)
    for p in points:
        axis.annotate(
            f"{p['target']:g}/s", (p["achieved"], p["p99"]), fontsize=7, xytext=(3, 3),
            textcoords="offset points",
        )  # fmt: skip
    axis.set_xlabel("completed card flows per second (label: target rate)")
    axis.set_ylabel("end-to-end latency, first request → notification.sent (ms)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title("Card flow latency over load")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _held(name: str, value: float | None, at_most: bool = True) -> str:
    target = TARGETS[name]
    if value is None:
        return "not measured"
    ok = value <= target if at_most else value >= target
    return f"{'met' if ok else 'NOT met'} (target {'≤' if at_most else '≥'} {target:g})"


def _cpu_table(title: str, cpu: dict[str, float]) -> list[str]:
    lines = ["", title, "", "| process | CPU ms per flow |", "|---|---|"]
    lines += [f"| {name} | {ms:.1f} |" for name, ms in sorted(cpu.items(), key=lambda i: -i[1])]
    return lines


def _postgresql(b: dict[str, Any], c: dict[str, Any]) -> list[str]:
    pg = b["postgresql"]
    lite = b.get("sqlite_beside_postgresql") or b  # results written before the rounds
    rounds = pg.get("rounds", [])
    lines = [
        "",
        "The same on PostgreSQL: fresh sandboxes, one on SQLite and one with every service on "
        f"one fresh PostgreSQL database per round, alternated, means of {len(rounds) or 1} "
        "round(s) (the server's processes counted as `postgres`):",
        "",
        "| CPU per completed flow | SQLite | PostgreSQL | ratio | target |",
        "|---|---|---|---|---|",
        f"| at saturation ({lite['saturation_flows_per_s']:.1f} vs "
        f"{pg['saturation_flows_per_s']:.1f} flows/s) | {lite['cpu_ms_per_flow_total']:.1f} ms | "
        f"{pg['cpu_ms_per_flow_total']:.1f} ms | {c['postgresql_vs_sqlite']:.2f} | "
        f"{_held('postgresql_vs_sqlite', c['postgresql_vs_sqlite'])} |",
    ]
    if "postgresql_vs_sqlite_at_8" in c:
        lines.append(
            f"| at 8 flows/s | {lite['cpu_ms_per_flow_at_8_total']:.1f} ms | "
            f"{pg['cpu_ms_per_flow_at_8_total']:.1f} ms | {c['postgresql_vs_sqlite_at_8']:.2f} | "
            f"{_held('postgresql_vs_sqlite', c['postgresql_vs_sqlite_at_8'])} |"
        )
    if rounds:
        lines += [
            "",
            "Round by round (flows/s at saturation; CPU ms per flow there / at 8 flows/s):",
            "",
        ]
        for n, (s_round, p_round) in enumerate(zip(lite["rounds"], rounds, strict=True), 1):
            lines.append(
                f"- round {n}: SQLite {s_round['saturation_flows_per_s']:.1f}; "
                f"{s_round['cpu_ms_per_flow_total']:.1f} / "
                f"{s_round['cpu_ms_per_flow_at_8_total']:.1f}, PostgreSQL "
                f"{p_round['saturation_flows_per_s']:.1f}; "
                f"{p_round['cpu_ms_per_flow_total']:.1f} / "
                f"{p_round['cpu_ms_per_flow_at_8_total']:.1f}"
            )
    lines += _cpu_table("PostgreSQL, at saturation:", pg["cpu_ms_per_flow"])
    lines += _cpu_table("PostgreSQL, at 8 flows/s:", pg["cpu_ms_per_flow_at_8"])
    return lines


def _runs(runs: list[float] | None) -> str:
    """`` (median of 3: 8.4, 8.6, 8.8 s)`` for several runs, nothing for one."""
    if not runs or len(runs) < 2:
        return ""
    return f" (median of {len(runs)}: {', '.join(f'{r:.1f}' for r in runs)} s)"


def markdown(results: dict[str, Any]) -> str:
    a, b, c = results["ceilings"], results["sandbox"], results["ratios"]
    start = results.get("startup") or {}
    half = b.get("half_saturation") or {}
    lines = [
        f"# Flow benchmark, {results['when']}",
        "",
        f"Machine: {results['machine']}. Everything (broker, mocks, services, Locust) on it.",
        "",
        "| (a) raw ceiling | value |",
        "|---|---|",
        f"| pika publish with confirms, one at a time | {a['raw_publish']:,.0f} msg/s |",
        f"| pika consume + ack (prefetch {BrokerSettings().prefetch}) | "
        f"{a['raw_consume']:,.0f} msg/s |",
        f"| trivial Flask endpoint, same gunicorn setup, Locust | {a['flask_rps']:,.0f} req/s |",
    ]
    if start:
        lines.append(
            f"| a bare private broker node start{_runs(start.get('bare_node_runs'))} | "
            f"{start['bare_node_s']:.1f} s |"
        )
    lines += [
        "",
        "| (b) the sandbox | value | (c) ratio to (a) | target |",
        "|---|---|---|---|",
        f"| outbox relay (payment service), filled outbox drained | {b['relay']:,.0f} msg/s | "
        f"{c['relay_vs_raw_publish']:.2f} x raw publish | |",
        f"| consumer adapter, consume + ack | {b['adapter_consume']:,.0f} msg/s | "
        f"{c['consumer_vs_raw_consume']:.2f} x raw consume | |",
        f"| completed flows/s at saturation ({b['saturation_users']} users) | "
        f"{b['saturation_flows_per_s']:.1f} flows/s | "
        f"{c['flow_vs_flask']:.4f} x trivial req/s | "
        f"{_held('flow_vs_flask', c['flow_vs_flask'], at_most=False)} |",
        f"| failed flows at saturation | {b['saturation_failed']} | | |",
        f"| CPU per completed flow at saturation, all processes | "
        f"{b['cpu_ms_per_flow_total']:.1f} ms | | "
        f"{_held('cpu_ms_per_flow', b['cpu_ms_per_flow_total'])} |",
    ]
    if b.get("cpu_ms_per_flow_at_8_total") is not None:
        lines.append(
            f"| CPU per completed flow at 8 flows/s, all processes | "
            f"{b['cpu_ms_per_flow_at_8_total']:.1f} ms | | "
            f"{_held('cpu_ms_per_flow_at_8', b['cpu_ms_per_flow_at_8_total'])} |"
        )
    lines.append(
        f"| idle latency, one flow at a time (p50 of {b['idle_flows']}) | "
        f"{b['idle_p50']:.0f} ms | | |"
    )
    if half:
        lines += [
            f"| at half saturation ({half['target']:.1f} flows/s, achieved "
            f"{half['achieved']:.1f}): p50 | {half['p50']:.0f} ms | "
            f"{c['half_p50_vs_idle']:.2f} x idle p50 | "
            f"{_held('half_p50_vs_idle', c['half_p50_vs_idle'])} |",
            f"| at half saturation: p95 / p99 | {half['p95']:.0f} / {half['p99']:.0f} ms | "
            f"p99 {c['half_p99_vs_idle']:.2f} x idle p50 | "
            f"{_held('half_p99_vs_idle', c['half_p99_vs_idle'])} |",
        ]
    if start:
        lines.append(
            f"| `sandbox up` on a fresh state directory{_runs(start.get('up_runs'))} | "
            f"{start['up_s']:.1f} s | "
            f"{c['up_vs_bare_node']:.2f} x bare node | "
            f"{_held('up_vs_bare_node', c['up_vs_bare_node'])} |"
        )
    fixed = b["fixed"]
    lines += [
        f"| end-to-end at {fixed['target']:g} flows/s target: achieved | "
        f"{fixed['achieved']:.1f} flows/s ({fixed['failed']} failed) | | |",
        f"| end-to-end p50 / p95 / p99 at that rate | {fixed['p50']:.0f} / {fixed['p95']:.0f} / "
        f"{fixed['p99']:.0f} ms | | |",
        "",
        f"Latency over load (card flows, each step {results['step_s']} s):",
        "",
        "| target flows/s | achieved | failed | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for p in b["latency_over_load"]:
        lines.append(
            f"| {p['target']:g} | {p['achieved']:.1f} | {p['failed']} | {p['p50']:.0f} | "
            f"{p['p95']:.0f} | {p['p99']:.0f} |"
        )
    total_cpu = max(b["cpu_ms_per_flow_total"], 1.0)
    lines += _cpu_table(
        f"CPU per completed flow at saturation: {total_cpu:.0f} ms in all "
        f"({results['cores']} cores: at most {results['cores'] * 1000 / total_cpu:.0f}"
        " flows/s if nothing else ran):",
        b["cpu_ms_per_flow"],
    )
    if b.get("cpu_ms_per_flow_at_8"):
        lines += _cpu_table("CPU per completed flow at 8 flows/s:", b["cpu_ms_per_flow_at_8"])
    if b.get("postgresql"):
        lines += _postgresql(b, c)
    lines += ["", "![latency over load](latency.png)", ""]
    return "\n".join(lines)
