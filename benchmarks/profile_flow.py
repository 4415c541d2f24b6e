"""Profile every process of a sandbox under a fixed card-flow rate, with py-spy.

Boots a private sandbox (profile ``load``, random ports), or uses a running one
(``--state-dir``), runs card flows at ``--rate`` flows/s for ``--seconds`` while py-spy
samples every sandbox process (gunicorn workers included), and prints, per process: the
CPU ms per completed flow (psutil, as ``flow_bench`` counts it) and where its samples
went, by library (sqlalchemy, pika, email, requests, ...) and by the hottest frames.
The raw collapsed stacks stay in ``--out`` for flame graphs.

    .venv/bin/python benchmarks/profile_flow.py [--rate 8] [--seconds 30] [--top 12]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flow_bench import component_pids, cpu_seconds, drained, load_step, sandbox, users_for

from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints

# a frame's file decides its library; the first match wins
LIBRARIES = (
    ("sqlalchemy", "sqlalchemy"),
    ("sqlite3", "sqlite3"),
    ("psycopg", "psycopg"),
    ("pika", "pika"),
    ("email", "/email/"),
    ("smtplib", "smtplib"),
    ("requests", "requests/"),
    ("urllib3", "urllib3"),
    ("stripe", "stripe/"),
    ("jsonschema", "jsonschema"),
    ("flask/werkzeug", "flask/"),
    ("flask/werkzeug", "werkzeug/"),
    ("gunicorn", "gunicorn/"),
    ("aiosmtpd", "aiosmtpd"),
    ("logging", "/logging/"),
    ("json", "/json/"),
    ("socket/ssl/select", "socket.py"),
    ("socket/ssl/select", "selectors.py"),
    ("threading", "threading.py"),
    ("sandbox", "sandbox/"),
    ("mocks", "mocks/"),
)


def library(frame: str) -> str:
    for name, marker in LIBRARIES:
        if marker in frame:
            return name
    return "other"


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    if not path.exists():
        return stacks
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int) -> list[str]:
    """Samples by the library of the leaf frame's nearest non-stdlib caller, and the
    hottest frames inclusive of what they call."""
    total = sum(count for _, count in stacks) or 1
    by_library: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        # the innermost frame that belongs to a known library names the cost
        named = "other"
        for frame in reversed(frames):
            found = library(frame)
            if found not in ("other", "threading", "socket/ssl/select"):
                named = found
                break
        by_library[named] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [
        "    by library: "
        + ", ".join(f"{n} {c * 100 / total:.0f}%" for n, c in by_library.most_common(10))
    ]
    hot = [
        (frame, count)
        for frame, count in inclusive.most_common()
        if "sandbox/" in frame or "mocks/" in frame
    ][:top]
    for frame, count in hot:
        lines.append(f"    {count * 100 / total:5.1f}%  {frame[:150]}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=8.0, help="card flows per second")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--sample-rate", type=int, default=50, help="py-spy samples/s")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument(
        "--idle",
        action="store_true",
        help="sample waiting threads too (where wall time goes, not only CPU)",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL: Python's own CPU, no waiting",
    )
    parser.add_argument(
        "--no-spy", action="store_true", help="only CPU per flow and latency, no sampling"
    )
    parser.add_argument("--state-dir", help="profile this running sandbox (profile load)")
    parser.add_argument("--out", default=None, help="folder for the collapsed stacks")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="flow-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    startup: dict[str, float] = {}
    with sandbox(Path(args.state_dir) if args.state_dir else None, startup) as state_dir:
        state = StateFile(state_dir).read()
        endpoints = Endpoints.of_sandbox(state_dir)
        drained(state)
        pids = component_pids(state)
        spies = []
        for name, group in pids.items():
            if name == "broker" or args.no_spy:
                continue
            for pid in group:
                spies.append(
                    (
                        name,
                        out / f"{name}-{pid}.txt",
                        subprocess.Popen(
                            [
                                *(str(Path(sys.executable).parent / "py-spy"), "record"),
                                *("--pid", str(pid), "--rate", str(args.sample_rate)),
                                *("--format", "raw", "--nonblocking"),
                                *(["--idle"] if args.idle else []),
                                *(["--gil"] if args.gil else []),
                                *("--duration", str(args.seconds + 4)),
                                *("--output", str(out / f"{name}-{pid}.txt")),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        ),
                    )
                )
        time.sleep(1.0)  # py-spy attaches
        before = cpu_seconds(pids)
        users = users_for(args.rate)
        summary = load_step(
            endpoints, out / "load", users=users, seconds=args.seconds, rate=args.rate
        )
        after = cpu_seconds(pids)
        for _, _, spy in spies:
            spy.wait(60)
    done = max(summary["flows_completed"], 1)
    print(
        f"{summary['flows_completed']} flows at {summary['flows_per_s']} flows/s, "
        f"{summary['flows_failed']} failed; latency {summary['latency_ms']}"
    )
    total = 0.0
    for name in after:
        ms = (after[name] - before.get(name, 0)) * 1000 / done
        total += ms
        print(f"\n{name}: {ms:.2f} ms CPU per flow")
        stacks = [s for n, path, _ in spies if n == name for s in read_stacks(path)]
        if stacks:
            print("\n".join(summarise(stacks, args.top)))
    print(f"\ntotal: {total:.1f} ms CPU per flow; stacks in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
