"""Same-hour A/B of CPU per card flow: two settings, alternated, on fresh sandboxes.

A lever that saves a millisecond or two per flow hides in the run-to-run noise of a full
``flow_bench.py`` run; alternating the two settings within the same few minutes does not.
Each round boots a fresh sandbox per setting and database (``A`` first, then ``B``; the
order reversed in every second round, so use an even number of rounds) and runs
flow_bench's ``cpu_pass``: one closed-loop saturation step and one 8 flows/s step.
A setting is environment variables for every process the sandbox starts (``--a NAME=VALUE``,
``--b NAME=VALUE``; ``A`` is often the defaults).  It prints CPU ms per completed flow by
process for each setting (the mean over rounds), the totals of every round, and with both
databases the PostgreSQL / SQLite ratio of each setting.

    .venv/bin/python benchmarks/cpu_ab.py --a PAYMENT_RELAY_HOLD_MARKS_S=0 \\
        --a APPOINTMENT_RELAY_HOLD_MARKS_S=0 --a NOTIFIER_RELAY_HOLD_MARKS_S=0 \\
        --rounds 2 --database sqlite,postgresql         # about 10 minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench_common import assignments, database
from flow_bench import cpu_pass, log, sandbox

SETTINGS = ("A", "B")
DATABASES = ("sqlite", "postgresql")


def run(
    settings: dict[str, dict[str, str]], kinds: list[str], rounds: int, seconds: int, users: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every round's ``cpu_pass`` result, by setting and database."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {k: [] for k in kinds} for s in settings
    }
    with tempfile.TemporaryDirectory(prefix="cpu-ab-") as tmp:
        for round_ in range(1, rounds + 1):
            for setting, kind in run_order(list(settings), kinds, round_):
                log(f"round {round_}, setting {setting}, {kind}")
                out = Path(tmp) / f"{round_}-{setting}-{kind}"
                env = settings[setting]
                with database(kind) as db_env, sandbox(None, {}, {**db_env, **env}) as sd:
                    results[setting][kind].append(
                        cpu_pass(
                            sd,
                            out,
                            users_steps=[users],
                            seconds=seconds,
                            postgres=kind == "postgresql",
                        )
                    )
    return results


def run_order(settings: list[str], kinds: list[str], round_: int) -> list[tuple[str, str]]:
    """The passes of round ``round_`` (1-based): every setting on every database, the
    whole sequence reversed in even rounds (A B, then B A), so that neither setting
    always runs later in a round, on a machine whose speed drifts within minutes."""
    order = [(setting, kind) for setting in settings for kind in kinds]
    return order if round_ % 2 else order[::-1]


def mean_by_process(passes: list[dict[str, Any]], key: str) -> dict[str, float]:
    names = sorted({name for p in passes for name in p[key]})
    return {n: statistics.fmean(p[key].get(n, 0.0) for p in passes) for n in names}


def ratio(lite: dict[str, Any], pg: dict[str, Any], key: str) -> float:
    return float(pg[key]) / max(float(lite[key]), 1e-9)


def report(results: dict[str, dict[str, list[dict[str, Any]]]], kinds: list[str]) -> None:
    for kind in kinds:
        print(f"\n{kind}: CPU ms per completed flow, mean of the rounds\n")
        columns = [(s, key) for s in results for key in ("cpu_ms_per_flow", "cpu_ms_per_flow_at_8")]
        means = {(s, key): mean_by_process(results[s][kind], key) for s, key in columns}
        names = sorted({n for m in means.values() for n in m})
        print("| process | A, saturation | A, 8 flows/s | B, saturation | B, 8 flows/s |")
        print("|---|---|---|---|---|")
        for name in names:
            cells = " | ".join(f"{means[c].get(name, 0.0):.2f}" for c in columns)
            print(f"| {name} | {cells} |")
        print()
        for setting in results:
            passes = results[setting][kind]
            flows = ", ".join(f"{p['saturation_flows_per_s']:.1f}" for p in passes)
            sat = ", ".join(f"{p['cpu_ms_per_flow_total']:.1f}" for p in passes)
            at_8 = ", ".join(f"{p['cpu_ms_per_flow_at_8_total']:.1f}" for p in passes)
            print(f"{setting}: saturation {flows} flows/s; CPU per flow {sat} ms; at 8/s {at_8}")
    if set(DATABASES) <= set(kinds):
        print("\nPostgreSQL / SQLite, round by round:\n")
        for setting in results:
            pairs = zip(results[setting]["sqlite"], results[setting]["postgresql"], strict=True)
            ratios = [
                f"{ratio(lite, pg, 'cpu_ms_per_flow_total'):.2f} at saturation, "
                f"{ratio(lite, pg, 'cpu_ms_per_flow_at_8_total'):.2f} at 8/s"
                for lite, pg in pairs
            ]
            print(f"{setting}: " + "; ".join(ratios))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20, help="each load step")
    parser.add_argument("--users", type=int, default=24, help="the saturation step's users")
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or both")
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.database.split(",") if k.strip()]
    if not kinds or any(k not in DATABASES for k in kinds):
        raise SystemExit(f"--database {args.database!r}: sqlite, postgresql or both")
    settings = {"A": assignments(args.a, "--a"), "B": assignments(args.b, "--b")}
    if settings["A"] == settings["B"]:
        raise SystemExit("--a and --b give the same setting: nothing to compare")
    for setting, env in settings.items():
        shown = " ".join(f"{k}={v}" for k, v in env.items()) or "(the defaults)"
        print(f"{setting}: {shown}")
    results = run(settings, kinds, args.rounds, args.seconds, args.users)
    report(results, kinds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
