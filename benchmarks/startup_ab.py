"""Same-hour A/B of ``sandbox up``: two settings, alternated with bare broker node starts.

One start on a shared machine can be a second off either way, so a start-up lever only
shows against a second setting measured in the same minutes.  Each round starts a bare
private broker node, then runs ``python -m sandbox up --profile load --random-ports`` on a
fresh state directory once per setting (the order alternating from round to round) and
``sandbox down`` after each.  A setting is environment variables for the ``sandbox``
command and everything it starts (``--a NAME=VALUE``, ``--b NAME=VALUE``); two versions
of the code compare through ``PYTHONPATH`` (run from a folder outside both checkouts,
since ``python -m`` puts the working directory first on the path):

    cd /tmp && /work/main/.venv/bin/python /work/main/benchmarks/startup_ab.py \\
        --a PYTHONPATH=/tmp/before --b PYTHONPATH=/work/main --rounds 4

It prints every run and, per setting, the median ``up`` and its ratio to the median bare
node start (the start-up target of ``flow_bench.py``: ≤ 1.5), and the CPU each start
took: the whole machine's during ``up`` (user and system time of every core) and the
sandbox's Python processes' at ready (the supervisor and everything it started, not the
broker).  On a busy machine the wall times of a few rounds move by more than a start-up
lever saves; the CPU moves far less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from bench_common import assignments
from flow_bench import bare_node_start, log

SETTINGS = ("A", "B")


@dataclass(frozen=True)
class Start:
    """One ``sandbox up``: seconds, the machine's CPU seconds meanwhile, and the CPU
    seconds of the sandbox's Python processes when it was ready."""

    wall_s: float
    machine_cpu_s: float
    python_cpu_s: float


def busy_cpu_s() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system)


def python_cpu_s(state: str) -> float:
    """CPU seconds so far of the processes started for the sandbox at ``state`` (they
    carry SANDBOX_STATE_DIR), the broker's node aside."""
    total = 0.0
    for process in psutil.process_iter(["name", "environ", "cpu_times"]):
        environ = process.info["environ"] or {}
        if environ.get("SANDBOX_STATE_DIR") == state and process.info["name"] != "beam.smp":
            total += process.info["cpu_times"].user + process.info["cpu_times"].system
    return total


def timed_up(env: dict[str, str]) -> Start:
    """``sandbox up`` on a fresh state directory with ``env``, timed (then down)."""
    variables = {**os.environ, **env}
    variables.pop("SANDBOX_STATE_DIR", None)
    with tempfile.TemporaryDirectory(prefix="startup-ab-") as tmp:
        state = str(Path(tmp) / "state")
        command = [sys.executable, "-m", "sandbox", "--state-dir", state]
        began, cpu = time.perf_counter(), busy_cpu_s()
        up = subprocess.run(
            [*command, "up", "--profile", "load", "--random-ports"],
            env=variables,
            capture_output=True,
            text=True,
            check=False,
        )
        took, machine = time.perf_counter() - began, busy_cpu_s() - cpu
        processes = python_cpu_s(state)
        subprocess.run([*command, "down"], env=variables, capture_output=True, check=False)
        if up.returncode != 0:
            raise SystemExit(f"sandbox up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        return Start(round(took, 2), round(machine, 2), round(processes, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings = {"A": assignments(args.a, "--a"), "B": assignments(args.b, "--b")}
    bare: list[float] = []
    ups: dict[str, list[Start]] = {s: [] for s in SETTINGS}
    for n in range(args.rounds):
        bare.append(bare_node_start())
        for setting in SETTINGS if n % 2 == 0 else tuple(reversed(SETTINGS)):
            ups[setting].append(timed_up(settings[setting]))
        log(f"round {n + 1}: bare node {bare[-1]} s, " + ", ".join(
            f"{s} {ups[s][-1].wall_s} s (CPU: machine {ups[s][-1].machine_cpu_s} s, "
            f"Python processes {ups[s][-1].python_cpu_s} s)"
            for s in SETTINGS
        ))  # fmt: skip
    node = statistics.median(bare)
    print(f"bare node start: median {node:.2f} s of {bare}")
    for setting in SETTINGS:
        runs = ups[setting]
        median = statistics.median(run.wall_s for run in runs)
        machine = statistics.median(run.machine_cpu_s for run in runs)
        python = statistics.median(run.python_cpu_s for run in runs)
        shown = " ".join(f"{k}={v}" for k, v in settings[setting].items()) or "(defaults)"
        print(
            f"{setting} {shown}: sandbox up median {median:.2f} s = {median / node:.2f} x the "
            f"bare node; runs {[run.wall_s for run in runs]}; CPU medians: the machine "
            f"{machine:.2f} s, the Python processes {python:.2f} s"
        )


if __name__ == "__main__":
    main()
