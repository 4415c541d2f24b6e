"""Benchmark the payment service end to end, and its outbox relay next to raw pika.

Starts real processes on free ports (a private RabbitMQ node, the mock provider, the
payment web process under gunicorn and its relay), then:

1. drives ``POST /payment/process`` (a successful card payment: 2 provider calls and 2
   database transactions each) from a few threads for a bounded time, rate limiting
   off, and reports requests per second and latency;
2. measures the relay: with the relay stopped, fills the outbox with real payment
   events, starts the relay and times how long until every row is confirmed and
   marked sent; next to it, raw pika publishing the same messages with confirms on a
   BlockingChannel (one round trip per message) on the same node.

Prints a Markdown table.

    .venv/bin/python benchmarks/payment_bench.py [--seconds 12] [--threads 8] [--workers 2]
        [--events 20000] [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
from bench_common import free_port, print_table, publish_confirmed, purge
from sqlalchemy import create_engine, text

from sandbox.broker import LocalNode
from sandbox.control.process import ManagedProcess
from sandbox.messaging import ensure_topology
from sandbox.services.common.db import create_schema, make_engine, normalise_url
from sandbox.services.common.outbox import add_events
from sandbox.services.payment import events, model, tables
from sandbox.services.payment.provider import StripeProvider
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk_test_payment_bench"
CARD = {
    "card_number": "4111111111111111",
    "expiry_month": "12",
    "expiry_year": "2031",
    "cvv": "123",
    "cardholder_name": "Bench",
}


def _process(
    name: str, module: str, args: list[str], logs: Path, env: dict, health: str
) -> ManagedProcess:
    return ManagedProcess.python_module(
        name,
        module,
        *args,
        log_file=logs / f"{name}.log",
        env=env,
        health_url=health,
        cwd=REPO,
        start_timeout_s=60,
    )


def load(url: str, seconds: float, threads: int) -> tuple[int, int, list[float], float]:
    """POST /payment/process from ``threads`` threads for ``seconds``; return the counts."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    began = time.perf_counter()

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        own: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            body = {
                "user_id": "bench_user",
                "booking_id": f"BOOK-{uuid.uuid4().hex[:16]}",
                "amount": 25.5,
                "payment_method": "credit_card",
                "card_details": CARD,
            }
            t0 = time.perf_counter()
            response = session.post(f"{url}/payment/process", json=body, timeout=30)
            own.append(time.perf_counter() - t0)
            if response.status_code != 200:
                failed += 1
        with lock:
            latencies.extend(own)
            errors += failed

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    return len(latencies), errors, latencies, elapsed


def provider_alone(provider_url: str, seconds: float, threads: int) -> float:
    """The same two provider calls per payment straight from the SDK: the ceiling."""
    provider = StripeProvider(API_KEY, provider_url)
    card = model.CardInput(CARD["card_number"], 12, 2031, CARD["cvv"], "Bench")
    done = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal done
        count = 0
        while time.monotonic() < deadline:
            key = uuid.uuid4().hex
            intent = provider.create_intent(
                amount_minor=2550, currency="usd", metadata={}, idempotency_key=f"{key}-i"
            )
            provider.confirm_with_card(intent.id, card, idempotency_key=f"{key}-f")
            count += 1
        with lock:
            done += count

    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return done / (time.perf_counter() - began)


def fill_outbox(database_url: str, count: int) -> None:
    """Write ``count`` real payment events into the outbox, as the web process would."""
    engine = make_engine(database_url)
    create_schema(engine, tables.metadata)
    at = model.now()
    with engine.begin() as conn:
        batch = []
        for n in range(count // 2):
            payment = model.Payment(
                id=f"TXN-BENCH{n:08d}",
                tenant_id="bench",
                booking_id=f"BOOK-{n}",
                user_id="bench_user",
                amount_minor=2550,
                currency="USD",
                payment_method="credit_card",
                flow="card",
                status="completed",
                correlation_id=uuid.uuid4().hex,
                created_at=at,
                updated_at=at,
            )
            batch += [
                events.state_event("payment.created", payment, at),
                events.state_event("payment.completed", payment, at),
            ]
            if len(batch) >= 2000:
                add_events(conn, tables.outbox, batch, aggregate_id=None)
                batch = []
        add_events(conn, tables.outbox, batch, aggregate_id=None)
    engine.dispose()


def pending(database_url: str) -> int:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM payment_outbox WHERE sent_at IS NULL")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def raw_pika_publish(url: str, exchange: str, count: int) -> float:
    """Raw pika: BlockingChannel in confirm mode, one confirmed publish after another."""
    at = model.now()
    payment = model.Payment(
        "TXN-RAW",
        "bench",
        "BOOK-RAW",
        "bench_user",
        2550,
        "USD",
        "credit_card",
        "card",
        "completed",
        "corr",
        at,
        at,
    )
    messages = [events.state_event("payment.completed", payment, at) for _ in range(count)]
    return publish_confirmed(url, exchange, messages)


def timed(what: str, fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - began
    print(f"  {what}: {elapsed:.1f} s", file=sys.stderr)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers of the web process")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--database-url", default=None, help="default: a SQLite file")
    args = ap.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        database_url = args.database_url or f"sqlite:///{base / 'payment.db'}"
        schema = None
        if database_url.startswith("postgres"):
            schema = f"payment_bench_{uuid.uuid4().hex[:8]}"
            engine = create_engine(normalise_url(database_url))
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine.dispose()
            database_url = f"{database_url}?options=-csearch_path%3D{schema}"
        node = LocalNode(base / "node")
        timed("private RabbitMQ node", node.start)
        url = node.url
        ensure_topology(url, build(BrokerSettings()))
        provider_port, web_port, relay_port = free_port(), free_port(), free_port()
        provider = _process(
            "provider",
            "mocks.provider",
            ["--host", "127.0.0.1", "--port", str(provider_port), "--threads", "32"],
            base,
            {},
            f"http://127.0.0.1:{provider_port}/health",
        )
        env = {
            "PAYMENT_DATABASE_URL": database_url,
            "RABBITMQ_URL": url,
            "PROVIDER_URL": f"http://127.0.0.1:{provider_port}",
            "PROVIDER_API_KEY": API_KEY,
            "PAYMENT_RATE_LIMIT_ENABLED": "false",
            "PAYMENT_LOG_LEVEL": "WARNING",
            "PAYMENT_WORKERS": str(args.workers),
            "PAYMENT_PORT": str(web_port),
            "PAYMENT_RELAY_HEALTH_PORT": str(relay_port),
        }
        web = _process(
            "web",
            "sandbox.services.payment",
            ["web"],
            base,
            env,
            f"http://127.0.0.1:{web_port}/health",
        )
        relay = _process(
            "relay",
            "sandbox.services.payment",
            ["relay"],
            base,
            env,
            f"http://127.0.0.1:{relay_port}/health",
        )
        try:
            provider.start()
            web.start()
            relay.start()
            web_url = f"http://127.0.0.1:{web_port}"
            load(web_url, 1.0, 2)  # warm-up: connections, caches

            count, errors, latencies, elapsed = load(web_url, args.seconds, args.threads)
            rps = count / elapsed
            q = statistics.quantiles(latencies, n=100)
            rows += [
                (
                    f"POST /payment/process, {args.threads} threads, {args.workers} workers, "
                    f"{elapsed:.0f} s",
                    f"{rps:,.0f} req/s ({count} payments, {errors} errors)",
                ),
                (
                    "  latency p50 / p95 / p99",
                    f"{q[49] * 1000:.1f} / {q[94] * 1000:.1f} / {q[98] * 1000:.1f} ms",
                ),
            ]
            wait_for(lambda: pending(database_url) == 0, timeout=120, what="the load's events")
            ceiling = provider_alone(f"http://127.0.0.1:{provider_port}", 5.0, args.threads)
            rows.append(
                (
                    "  reference: the same 2 provider calls from the SDK alone, no service",
                    f"{ceiling:,.0f} payments/s",
                )
            )

            relay.stop()
            purge(url, build(BrokerSettings()))
            fill_outbox(database_url, args.events)
            n = pending(database_url)
            began = time.perf_counter()
            relay.start()
            wait_for(
                lambda: pending(database_url) == 0,
                timeout=300,
                what="the outbox to drain",
                interval=0.01,
            )
            relay_rate = n / (time.perf_counter() - began)
            rows.append(
                (
                    f"relay: {n} outbox rows published with confirms and marked sent "
                    "(incl. relay start)",
                    f"{relay_rate:,.0f} msg/s",
                )
            )
            purge(url, build(BrokerSettings()))
            raw = raw_pika_publish(url, "appointment_events", min(n, 5000))
            rows.append(("raw pika: BlockingChannel, confirm per message", f"{raw:,.0f} msg/s"))
        finally:
            for process in (relay, web, provider):
                process.stop()
            node.stop()
            if schema is not None and args.database_url:
                engine = create_engine(normalise_url(args.database_url))
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                engine.dispose()

    backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    print_table(
        f"Payment service on {backend}, mock provider, quorum queues on one private node", rows
    )


if __name__ == "__main__":
    main()
