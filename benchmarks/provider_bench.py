"""Measure the mock provider: PaymentIntent create+confirm throughput and latency.

Starts the real process (``python -m mocks.provider``) on a free port, checks it is
healthy, then

1. probes latency with one client and no contention (what the mock adds per call),
2. runs a bounded load: a few threads, each with its own stripe SDK client, doing
   create + confirm for ``--duration`` seconds,

and prints requests per second and p50/p95/p99 latencies.  Run it from the repo root:

    .venv/bin/python benchmarks/provider_bench.py --threads 4 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import stripe
from bench_common import free_port

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk_test_benchmark_0000000000"


@contextmanager
def provider_process(threads: int) -> Iterator[str]:
    """Run the provider until healthy; yield its base URL; stop it with SIGTERM."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PROVIDER_THREADS": str(threads)}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mocks.provider", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while not _healthy(base_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"provider did not start:\n{log.read().decode()[-2000:]}")
                time.sleep(0.05)
            yield base_url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def make_client(base_url: str, session: requests.Session) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": base_url},
        http_client=stripe.RequestsClient(session=session, timeout=30),
        max_network_retries=0,
    )


def create_and_confirm(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"}
    )
    confirmed = client.v1.payment_intents.confirm(intent.id)
    if confirmed.status != "succeeded":
        raise RuntimeError(f"unexpected status {confirmed.status}")


def raw_create_and_confirm(session: requests.Session, base_url: str) -> None:
    """The same two calls without the SDK, to tell the mock's cost from the client's."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    data = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa"}
    created = session.post(f"{base_url}/v1/payment_intents", data=data, headers=headers, timeout=30)
    intent_id = created.json()["id"]
    confirmed = session.post(
        f"{base_url}/v1/payment_intents/{intent_id}/confirm", headers=headers, timeout=30
    )
    if confirmed.json().get("status") != "succeeded":
        raise RuntimeError(f"unexpected answer {confirmed.status_code} {confirmed.text[:200]}")


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def timed(fn: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def probe(base_url: str, count: int) -> dict[str, Any]:
    """Single-client latencies: /health (HTTP floor), raw create, SDK create+confirm."""
    with requests.Session() as session:
        client = make_client(base_url, session)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        create_and_confirm(client)  # warm up connections and code paths
        health = timed(lambda: session.get(f"{base_url}/health", timeout=10), count)
        raw_create = timed(
            lambda: session.post(
                f"{base_url}/v1/payment_intents",
                data={"amount": "2000", "currency": "usd"},
                headers=headers,
                timeout=10,
            ),
            count,
        )
        pair = timed(lambda: create_and_confirm(client), count)
    return {
        "health_http_floor": percentiles(health),
        "raw_create": percentiles(raw_create),
        "sdk_create_confirm": percentiles(pair),
    }


def load(base_url: str, threads: int, duration_s: float, raw: bool) -> dict[str, Any]:
    """Run create+confirm from ``threads`` clients for ``duration_s``; bounded by time."""
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    stop_at = time.monotonic() + duration_s
    start = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        with requests.Session() as session:
            client = make_client(base_url, session)
            start.wait()
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    if raw:
                        raw_create_and_confirm(session, base_url)
                    else:
                        create_and_confirm(client)
                except Exception as exc:  # count and keep going: the run is a measurement
                    errors.append(repr(exc))
                    continue
                samples[index].append(time.perf_counter() - started)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    flat = [s for per_thread in samples for s in per_thread]
    return {
        "client": "requests" if raw else "stripe SDK",
        "threads": threads,
        "seconds": round(elapsed, 2),
        "create_confirm_pairs": len(flat),
        "pairs_per_s": round(len(flat) / elapsed, 1),
        "requests_per_s": round(2 * len(flat) / elapsed, 1),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "latency_create_confirm": percentiles(flat) if len(flat) > 1 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--duration", type=float, default=10.0, help="load seconds (default 10)")
    parser.add_argument("--server-threads", type=int, default=8, help="gunicorn threads")
    parser.add_argument("--probe", type=int, default=200, help="sequential probe requests")
    parser.add_argument("--raw", action="store_true", help="load with plain requests, no SDK")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    with provider_process(args.server_threads) as base_url:
        latency = probe(base_url, args.probe)
        result = load(base_url, args.threads, args.duration, args.raw)
    report = {"cpus": os.cpu_count(), "probe": latency, "load": result}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if result["errors"] == 0 else 1
    print(f"machine: {os.cpu_count()} CPUs; provider: 1 gunicorn gthread worker")
    print("single client, no faults (latency the mock adds, client included):")
    for name, stats in latency.items():
        print(
            f"  {name:<20} p50 {stats['p50_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms  "
            f"p99 {stats['p99_ms']:7.2f} ms"
        )
    lat = result["latency_create_confirm"] or {}
    print(
        f"load ({result['client']}): {result['threads']} threads x {result['seconds']} s, "
        f"{result['create_confirm_pairs']} create+confirm pairs, {result['errors']} errors"
    )
    print(f"  {result['pairs_per_s']} pairs/s = {result['requests_per_s']} requests/s")
    print(
        f"  create+confirm latency p50 {lat.get('p50_ms')} ms  p95 {lat.get('p95_ms')} ms  "
        f"p99 {lat.get('p99_ms')} ms  max {lat.get('max_ms')} ms"
    )
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
