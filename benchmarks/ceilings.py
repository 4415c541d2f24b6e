"""The machine's own ceilings, measured on a running sandbox's broker for ``flow_bench``:
pika publish with confirms and consume + ack (raw and through the adapter), the payment
relay draining a filled outbox, and a trivial Flask endpoint under the services' gunicorn
setup driven by Locust."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from bench_common import free_port
from broker_bench import adapter_consume, raw_consume, raw_publish
from payment_bench import fill_outbox, pending

from sandbox.broker import Admin
from sandbox.messaging import ensure_topology
from sandbox.messaging.tools import queue_depth
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

HERE = Path(__file__).resolve().parent


def vhost_url(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def broker_ceilings(state: dict[str, Any], messages: int) -> dict[str, float]:
    broker = state["broker"]
    Admin(broker["management_url"]).create_vhost("bench")
    url = vhost_url(broker["url"], "bench")
    topology = build(BrokerSettings())
    ensure_topology(url, topology)
    exchange = topology.exchange.name
    queue = topology.queues[0].name
    results = {"raw_publish": raw_publish(url, exchange, messages)}
    wait_for(lambda: queue_depth(url, queue) >= messages, timeout=60, what="backlog")
    results["raw_consume"] = raw_consume(url, messages, BrokerSettings().prefetch)
    raw_publish(url, exchange, messages)
    wait_for(lambda: queue_depth(url, queue) >= messages, timeout=60, what="backlog")
    results["adapter_consume"] = adapter_consume(url, topology, messages, BrokerSettings().prefetch)
    results["relay"] = relay_rate(url, messages)
    return results


def relay_rate(url: str, events: int) -> float:
    """The payment service's relay process draining a filled outbox into the bench vhost."""
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/relay.db"
        fill_outbox(database_url, events)
        rows = pending(database_url)
        env = {
            **os.environ,
            "RABBITMQ_URL": url,
            "PAYMENT_DATABASE_URL": database_url,
            "PAYMENT_RELAY_HEALTH_PORT": str(free_port()),
        }
        began = time.perf_counter()
        relay = subprocess.Popen(
            [sys.executable, "-m", "sandbox.services.payment", "relay"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: pending(database_url) == 0, timeout=300, what="outbox drained")
            return rows / (time.perf_counter() - began)
        finally:
            relay.terminate()
            relay.wait(30)


def flask_ceiling(out: Path, seconds: int, users: int) -> float:
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, str(HERE / "trivial_app.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/ping"), timeout=30, what="trivial app")
        prefix = out / "trivial"
        subprocess.run(
            [
                *(sys.executable, "-m", "locust", "-f", str(HERE / "trivial_locustfile.py")),
                *("--headless", "--host", f"http://127.0.0.1:{port}"),
                *("-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        with open(f"{prefix}_stats.csv") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
        return float(row["Requests/s"])
    finally:
        app.terminate()
        app.wait(30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
