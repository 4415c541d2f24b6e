"""What the payment service's SQL costs per card payment: CPU per flow, step by step.

Runs the storage calls of one successful card payment with an Idempotency-Key (what
``api._idempotent`` and ``handlers.cards.process_payment`` make), many times, against a
fresh SQLite file:

1. ``RequestStore.claim``: the key is new;
2. ``Storage.booking_holder``: the booking is free;
3. one transaction: ``insert_payment``, ``link_idempotency``, ``emit(payment.created)``;
4. one transaction: ``apply(SUCCEED)``, ``emit(payment.completed)``;
5. ``RequestStore.finish``: the response is stored.

Payments and their events are built before the clock starts: only storage calls (SQL
built, compiled or taken from the cache, executed, rows read) are timed.  CPU is the
thread's own (``time.thread_time``); SQLite runs in this thread, so it counts too.

    .venv/bin/python benchmarks/sql_bench.py [--flows 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_common import print_table

from sandbox.messaging import OutgoingMessage
from sandbox.services.common.db import create_schema, make_engine, sqlite_url
from sandbox.services.payment import events, model, tables
from sandbox.services.payment.model import Customer, Payment
from sandbox.services.payment.storage import Storage
from sandbox.services.payment.storage_requests import RequestStore, link_idempotency

TENANT = "tenant-bench"
STEPS = ("claim", "booking_holder", "open (tx)", "complete (tx)", "finish")


@dataclass(frozen=True)
class Flow:
    """One card payment's data, built before timing."""

    key: str
    payment: Payment
    created: OutgoingMessage
    completed: OutgoingMessage


def make_flow(n: int) -> Flow:
    at = model.now()
    payment = Payment(
        id=model.new_transaction_id(),
        tenant_id=TENANT,
        booking_id=f"BOOK-{n}",
        user_id="user-1",
        amount_minor=4200,
        currency="USD",
        payment_method="credit_card",
        flow=model.CARD_FLOW,
        status=model.PENDING,
        correlation_id=f"flow-{n}",
        created_at=at,
        updated_at=at,
        provider_intent_id=f"pi_{n}",
        customer=Customer("ada@example.com", "Ada"),
    )
    done = payment.with_changes(status=model.COMPLETED, card_brand="visa", card_last4="4242")
    return Flow(
        key=f"key-{n}",
        payment=payment,
        created=events.message("payment.created", payment, at),
        completed=events.message("payment.completed", done, at),
    )


def run_flow(storage: Storage, requests: RequestStore, flow: Flow, spent: dict[str, float]) -> None:
    """The storage calls of one card payment; CPU per step added to ``spent``."""
    payment = flow.payment

    def timed(step: str, call: Callable[[], object]) -> None:
        began = time.thread_time()
        call()
        spent[step] += time.thread_time() - began

    def claim() -> None:
        claimed = requests.claim(TENANT, flow.key, "f" * 64, stale_after_s=30.0)
        assert claimed.kind == "new", claimed

    def booking_holder() -> None:
        assert storage.booking_holder(TENANT, payment.booking_id) is None

    def open_payment() -> None:
        with storage.begin() as tx:
            tx.insert_payment(payment)
            link_idempotency(tx, TENANT, flow.key, payment.id)
            tx.emit(payment.id, [flow.created])

    def complete() -> None:
        at = model.now()
        with storage.begin() as tx:
            done = tx.apply(
                payment,
                model.SUCCEED,
                detail="charge succeeded",
                at=at,
                processed_at=at,
                error_code=None,
                error_message=None,
                card_brand="visa",
                card_last4="4242",
            )
            assert done is not None
            tx.emit(payment.id, [flow.completed])

    def finish() -> None:
        requests.finish(TENANT, flow.key, 201, {"transaction_id": payment.id})

    timed("claim", claim)
    timed("booking_holder", booking_holder)
    timed("open (tx)", open_payment)
    timed("complete (tx)", complete)
    timed("finish", finish)


def measure(flows: int, offset: int) -> dict[str, float]:
    """Run ``flows`` card payments on a fresh SQLite file; CPU µs per flow, per step."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(sqlite_url(Path(tmp) / "payment.db"))
        create_schema(engine, tables.metadata)
        storage, requests = Storage(engine), RequestStore(engine)
        warmup = [make_flow(offset - n - 1) for n in range(50)]
        for flow in warmup:  # pool connections, statement caches, SQLite pages
            run_flow(storage, requests, flow, defaultdict(float))
        prepared = [make_flow(offset + n) for n in range(flows)]
        spent: dict[str, float] = defaultdict(float)
        for flow in prepared:
            run_flow(storage, requests, flow, spent)
        engine.dispose()
    return {step: spent[step] / flows * 1e6 for step in STEPS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    runs = [measure(args.flows, 1_000_000 * (r + 1)) for r in range(args.repeat)]
    best = min(runs, key=lambda run: sum(run.values()))
    rows = [(step, f"{best[step]:.0f} µs") for step in STEPS]
    rows.append(("whole flow", f"{sum(best.values()):.0f} µs"))
    totals = ", ".join(f"{sum(run.values()):.0f}" for run in runs)
    print_table(
        f"CPU per card flow on SQLite, {args.flows} flows, best of {args.repeat} "
        f"(whole flow per run: {totals} µs)",
        rows,
    )


if __name__ == "__main__":
    main()
