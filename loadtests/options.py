"""The load's own command-line options, where its targets come from, and its thresholds.

Every host and rate comes from the command line (or the ``LOAD_*`` environment
variables, or a Locust config file): nothing is hard-coded.  URLs not given are read
from a running sandbox's ``state.json`` (``--sandbox-dir``, default ``.sandbox``).

The thresholds are checked once, when Locust quits, by the process that owns the
statistics (the local runner or the master); any that fails sets the exit code to 1 and
is printed with its measured value.  ``--summary-json`` writes the same figures for
scripts (``sandbox load``, the benchmark).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox.control.state import StateFile

FLOW = "flow"  # the Locust request type of end-to-end flow samples
LAG = "lag"  # consumer lag: an event published to the exchange until its effect is seen
AMQP = "amqp"  # publishes straight to the exchange


@dataclass(frozen=True)
class Targets:
    appointment: str
    payment: str
    provider: str
    amqp: str


def add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("payment-flow sandbox")

    def option(flag: str, default: Any, help: str | None = None, **kwargs: Any) -> None:
        """Add ``flag``, which the variable ``LOAD_<FLAG>`` sets as well."""
        env_var = "LOAD_" + flag.removeprefix("--").replace("-", "_").upper()
        group.add_argument(flag, default=default, env_var=env_var, help=help, **kwargs)

    option(
        "--sandbox-dir",
        ".sandbox",
        "state directory of a running sandbox; its endpoints fill the URLs not given",
    )
    for name in ("appointment", "payment", "provider"):
        option(f"--{name}-url", "", f"{name} URL")
    option("--amqp-url", "", "broker URL(s)")
    option(
        "--flows-per-s",
        0.0,
        "target flows per second over all users (0: each user as fast as it can)",
        type=float,
    )
    option(
        "--declined-ratio",
        0.1,
        "share of card flows paid with a card the provider declines",
        type=float,
    )
    option("--flow-timeout", 30.0, "seconds a flow may take before it counts as failed", type=float)
    option("--tenant", "tenant-load")
    option(
        "--ledger-dir", "", "write every started flow to DIR/flows-*.jsonl for the reconciliation"
    )
    group.add_argument("--summary-json", default="", help="write the figures and verdict here")
    group.add_argument(
        "--stop-after",
        default="",
        help="distributed runs: stop the workers after this time (e.g. 30s), wait for "
        "their last flows and statistics, then quit (use instead of --run-time)",
    )
    # thresholds: unset, they are not checked
    option(
        "--max-e2e-p95-ms",
        None,
        "fail when a flow type's p95 end-to-end latency is above this",
        type=float,
    )
    option(
        "--max-failure-ratio",
        None,
        "fail when failed samples / all samples is above this (e.g. 0)",
        type=float,
    )
    option(
        "--min-flows-per-s", None, "fail when completed flows per second are below this", type=float
    )


def targets(options: Any) -> Targets:
    """The URLs to load: given ones first, the rest from the sandbox's state."""
    given = {
        "appointment": options.appointment_url,
        "payment": options.payment_url,
        "provider": options.provider_url,
        "amqp": options.amqp_url,
    }
    if not all(given.values()):
        state = StateFile(Path(options.sandbox_dir)).read()
        components = state.get("components") or {}
        for name in ("appointment", "payment", "provider"):
            given[name] = given[name] or (components.get(name) or {}).get("endpoint") or ""
        given["amqp"] = given["amqp"] or (state.get("broker") or {}).get("url") or ""
    missing = [name for name, url in given.items() if not url]
    if missing:
        raise SystemExit(
            f"no URL for {', '.join(missing)}: pass --{missing[0]}-url or start a sandbox "
            f"(`sandbox up`) whose state is in {options.sandbox_dir}"
        )
    return Targets(**{k: v.rstrip("/") for k, v in given.items()})


# -- thresholds ------------------------------------------------------------------------


@dataclass
class Summary:
    duration_s: float
    requests: int
    failures: int
    failure_ratio: float
    flows_completed: int
    flows_failed: int
    flows_per_s: float
    latency_ms: dict[str, dict[str, float]]  # flow or lag name -> p50/p95/p99/max/count
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check["passed"] for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def summarise(stats: Any, options: Any) -> Summary:
    """Figures from Locust's stats, and each configured threshold checked against them."""
    total = stats.total
    last = total.last_request_timestamp
    duration = max(last - total.start_time, 1e-9) if last else 0.0
    entries = sorted(stats.entries.items())
    flows = [e for (_name, kind), e in entries if kind == FLOW]
    timed = [e for (_name, kind), e in entries if kind in (FLOW, LAG)]
    completed = sum(e.num_requests - e.num_failures for e in flows)
    failed = sum(e.num_failures for e in flows)
    latency = {
        e.name: {
            "count": e.num_requests,
            "p50": e.get_response_time_percentile(0.5) or 0.0,
            "p95": e.get_response_time_percentile(0.95) or 0.0,
            "p99": e.get_response_time_percentile(0.99) or 0.0,
            "max": e.max_response_time or 0.0,
        }
        for e in timed
        if e.num_requests
    }
    summary = Summary(
        duration_s=round(duration, 3),
        requests=total.num_requests,
        failures=total.num_failures,
        failure_ratio=total.fail_ratio,
        flows_completed=completed,
        flows_failed=failed,
        flows_per_s=round(completed / duration, 2) if duration else 0.0,
        latency_ms=latency,
    )
    if options.max_e2e_p95_ms is not None:
        for name, figures in latency.items():
            summary.checks.append(
                _check(f"p95 of {name}", figures["p95"], "<=", options.max_e2e_p95_ms, "ms")
            )
        if not latency:
            summary.checks.append(_check("timed flows", 0, ">", 0, ""))
    if options.max_failure_ratio is not None:
        summary.checks.append(
            _check("failure ratio", total.fail_ratio, "<=", options.max_failure_ratio, "")
        )
    if options.min_flows_per_s is not None:
        summary.checks.append(
            _check("completed flows/s", summary.flows_per_s, ">=", options.min_flows_per_s, "")
        )
    return summary


def _check(what: str, value: float, op: str, limit: float, unit: str) -> dict[str, Any]:
    ok = {"<=": value <= limit, ">=": value >= limit, ">": value > limit}[op]
    if isinstance(value, float) and math.isnan(value):
        ok = False
    return {"what": what, "value": value, "op": op, "limit": limit, "unit": unit, "passed": ok}


def render(summary: Summary) -> str:
    lines = [
        f"flows: {summary.flows_completed} completed, {summary.flows_failed} failed "
        f"in {summary.duration_s:.1f} s ({summary.flows_per_s:.1f} completed/s); "
        f"samples: {summary.requests}, failures {summary.failures} "
        f"({summary.failure_ratio:.2%})"
    ]
    for name, f in summary.latency_ms.items():
        lines.append(
            f"  {name}: n={f['count']} p50={f['p50']:.0f} ms p95={f['p95']:.0f} ms "
            f"p99={f['p99']:.0f} ms max={f['max']:.0f} ms"
        )
    for check in summary.checks:
        mark = "PASS" if check["passed"] else "FAIL"
        value = check["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(
            f"  {mark} {check['what']}: {shown}{check['unit']} {check['op']} "
            f"{check['limit']}{check['unit']}"
        )
    if summary.checks:
        lines.append("thresholds: " + ("passed" if summary.passed else "FAILED"))
    return "\n".join(lines)


def write_summary(path: str, summary: Summary) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
