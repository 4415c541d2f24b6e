"""Where a card flow's time goes, hop by hop, at a paced rate.

Boots a private sandbox (profile ``load``, random ports, SQLite), runs card flows at
``--rate`` for ``--seconds`` after a warm-up, then reads back what the services recorded
about each flow and prints, per hop, the p50, p95 and p99 over the flows, and the mean
of each hop over the slowest 1 % (by the time to the email), which says where the tail
comes from:

- book: the flow's start (the load ledger) to the appointment's row;
- pay, to the intent: the appointment's row to the payment's (the pay request, the
  booking check with the appointment service, the provider's intent);
- pay, the charge: to the payment's completion (the confirm with the card);
- to the appointment service: the completion to its consumer taking ``payment.completed``
  (the payment relay, the broker, the consumer);
- to the email: to the notifier's delivery of the ``appointment_confirmed`` email (the
  appointment relay, the broker, the notifier consumer, the SMTP mock).

The flow's end (``notification.sent`` reaching Locust: the notifier relay, the broker,
Locust's own tracker) is in Locust's end-to-end figure, printed beside them.

    .venv/bin/python benchmarks/flow_hops.py [--rate 30] [--seconds 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flow_bench import card_latency, drained, load_step, sandbox, users_for

from sandbox.control.state import StateFile
from sandbox.load.run import Endpoints

HOPS = (
    "book",
    "pay, to the intent",
    "pay, the charge",
    "to the appointment service",
    "to the email",
)


def _at(value: str) -> float:
    """A time as the services store it in SQLite (naive UTC) as epoch seconds."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _one(db: sqlite3.Connection, query: str, *args: str) -> str | None:
    row = db.execute(query, args).fetchone()
    return None if row is None else str(row[0])


def flow_hops(data: Path, ledger: Path) -> list[list[float]]:
    """Each complete card flow's hops (HOPS), in ms, from the sandbox's databases."""
    payment = sqlite3.connect(data / "payment.db")
    appointment = sqlite3.connect(data / "appointment.db")
    notifier = sqlite3.connect(data / "notifier.db")
    flows = [json.loads(line) for path in ledger.glob("*.jsonl") for line in path.open()]
    found = []
    for flow in flows:
        if flow.get("kind") != "card" or not flow.get("payment_ref"):
            continue
        appt_id, payment_id = flow["appointment_id"], flow["payment_ref"]
        booked = _one(
            appointment, "SELECT created_at FROM appointment_appointments WHERE id = ?", appt_id
        )
        opened = _one(
            payment,
            "SELECT at FROM payment_timeline WHERE payment_id = ? AND to_status = 'pending'",
            payment_id,
        )
        completed = payment.execute(
            "SELECT t.at, e.message_id FROM payment_timeline t JOIN payment_timeline e"
            " ON e.payment_id = t.payment_id AND e.event_type = 'payment.completed'"
            " WHERE t.payment_id = ? AND t.to_status = 'completed'",
            (payment_id,),
        ).fetchone()
        if booked is None or opened is None or completed is None:
            continue
        consumed = _one(
            appointment,
            "SELECT processed_at FROM appointment_processed_messages WHERE message_id = ?",
            completed[1],
        )
        confirmed = _one(
            appointment,
            "SELECT message_id FROM appointment_outbox"
            " WHERE aggregate_id = ? AND routing_key = 'appointment.confirmed'",
            appt_id,
        )
        emailed = confirmed and _one(
            notifier,
            "SELECT delivered_at FROM notifier_deliveries WHERE event_id = ? AND channel = 'email'",
            confirmed,
        )
        if consumed is None or not emailed:
            continue
        times = [flow["started_at"], *map(_at, (booked, opened, completed[0], consumed, emailed))]
        found.append([(b - a) * 1000 for a, b in itertools.pairwise(times)])
    return found


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(hops: list[list[float]], end_to_end: dict[str, Any], rate: float) -> str:
    slowest = sorted(hops, key=sum)[-max(1, len(hops) // 100) :]
    lines = [
        f"{len(hops)} card flows at {rate:g} flows/s; end to end (Locust): p50 "
        f"{end_to_end['p50']:.0f}, p95 {end_to_end['p95']:.0f}, p99 {end_to_end['p99']:.0f} ms",
        "",
        "| hop | p50 ms | p95 ms | p99 ms | slowest 1 %: mean ms |",
        "|---|---|---|---|---|",
    ]
    columns = list(zip(*hops, strict=True))
    tail = list(zip(*slowest, strict=True))
    for name, values, worst in zip(HOPS, columns, tail, strict=True):
        lines.append(
            f"| {name} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} | "
            f"{percentile(values, 0.99):.1f} | {sum(worst) / len(worst):.1f} |"
        )
    total = [sum(h) for h in hops]
    lines.append(
        f"| start to the email | {percentile(total, 0.5):.1f} | {percentile(total, 0.95):.1f} | "
        f"{percentile(total, 0.99):.1f} | {sum(sum(h) for h in slowest) / len(slowest):.1f} |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=30.0, help="card flows/s")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    with (
        tempfile.TemporaryDirectory(prefix="flow-hops-") as tmp,
        sandbox(None, {}) as state_dir,
    ):
        state = StateFile(state_dir).read()
        endpoints = Endpoints.of_sandbox(state_dir)
        users = users_for(args.rate)
        # warm-up: pools filled; its flows are in another ledger
        load_step(endpoints, Path(tmp) / "warm", users=users, seconds=10, rate=args.rate)
        drained(state)
        out = Path(tmp) / "load"
        summary = load_step(endpoints, out, users=users, seconds=args.seconds, rate=args.rate)
        drained(state)
        hops = flow_hops(state_dir / "data", out / "ledger")
    if not hops:
        print("no complete card flow found in the sandbox's databases", file=sys.stderr)
        return 1
    print(report(hops, card_latency(summary), args.rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
