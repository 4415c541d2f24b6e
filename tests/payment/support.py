"""Test support for the payment service: real processes, their logs, the events they emit.

``PaymentStack`` is one web process and one relay process on one database and one
vhost, started with ``ManagedProcess`` exactly as the sandbox starts them.
``EventLog`` drains the payment queues of a vhost and keeps every message it ever saw,
so tests can wait for the events of one payment and the card-data scan can read them
all at the end of the run.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from sqlalchemy import Engine, MetaData, create_engine, text

from mocks.clients import ProviderClient
from sandbox.contracts import ContractRegistry
from sandbox.control.process import ManagedProcess
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.tools import drain
from sandbox.services.common.db import create_schema, make_engine, normalise_url
from sandbox.waiting import wait_for
from tests.postgres import SERVER, why_no_postgres
from tests.service_support import free_port

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_payment_tests_0123456789abcdef"
PROVIDER_API_KEY = "sk_test_payment_tests_0123456789"
PG_URL = f"{SERVER}/test"
PAYMENT_QUEUES = ("payment_events", "notifier_payment_events")

# Every card number the tests send; the scan looks for all of them everywhere.
CARDS = {
    "visa": "4111111111111111",
    "visa2": "4242424242424242",
    "mastercard": "5555555555554444",
    "amex": "378282246310005",
    "declined": "4000000000000002",
    "insufficient": "4000000000009995",
    "expired": "4000000000000069",
    "bad_cvc": "4000000000000127",
    "bad_luhn": "4111111111111112",
    "3ds": "4000002760003184",
    "3ds_insufficient": "4000008260003178",
}
# CVVs the tests send; distinctive so a scan can look for them next to card fields.
CVV = "739"
# The names card details travel under; the leak scan looks for each one quoted.
CARD_FIELDS = (
    "card_number",
    "cvv",
    "cvc",
    "expiry_month",
    "expiry_year",
    "exp_month",
    "exp_year",
)
EXPIRY = {"expiry_month": "11", "expiry_year": "2031"}


def card_body(booking_id: str, card: str = "visa", amount: float = 25.5, **extra: Any) -> dict:
    """A POST /payment/process body with the given test card."""
    return {
        "user_id": extra.pop("user_id", "user_123"),
        "booking_id": booking_id,
        "amount": amount,
        "payment_method": "credit_card",
        "card_details": {
            "card_number": CARDS[card],
            **EXPIRY,
            "cvv": CVV,
            "cardholder_name": "Ada Lovelace",
        },
        **extra,
    }


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- databases -----------------------------------------------------------------------------


@dataclass
class Database:
    """A database for one stack: a SQLite file, or a private PostgreSQL schema."""

    url: str
    backend: str
    schema: str | None = None
    sqlite_path: Path | None = None

    def dump(self) -> str:
        """Every row of every payment table as text (the card-data scan reads it)."""
        engine = create_engine(normalise_url(self.url))
        lines: list[str] = []
        try:
            with engine.connect() as conn:
                for table in (
                    "payment_payments",
                    "payment_refunds",
                    "payment_idempotency",
                    "payment_webhook_events",
                    "payment_timeline",
                    "payment_outbox",
                ):
                    for row in conn.execute(text(f"SELECT * FROM {table}")):
                        lines.append(f"{table}: {tuple(row)!r}")
        finally:
            engine.dispose()
        return "\n".join(lines)

    def drop(self) -> None:
        if self.schema is not None:
            _on_postgres(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _on_postgres(statement: str) -> None:
    """Run one statement on the test server, outside any stack's schema."""
    engine = create_engine(normalise_url(PG_URL))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def make_database(backend: str, directory: Path) -> Database:
    if backend == "sqlite":
        path = directory / "payment.db"
        return Database(f"sqlite:///{path}", "sqlite", sqlite_path=path)
    schema = f"payment_test_{uuid.uuid4().hex[:10]}"
    _on_postgres(f'CREATE SCHEMA "{schema}"')
    # libpq's options parameter sets the search path of every connection of the stack
    return Database(f"{PG_URL}?options=-csearch_path%3D{schema}", "postgresql", schema=schema)


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[Database]:
    """A new database on ``backend``, dropped afterwards; skips the test without PostgreSQL."""
    if backend == "postgresql" and (why := why_no_postgres()):
        pytest.skip(why)
    database = make_database(backend, directory)
    try:
        yield database
    finally:
        database.drop()


@contextmanager
def engine_with_tables(backend: str, directory: Path, metadata: MetaData) -> Iterator[Engine]:
    """An engine on a fresh database on ``backend`` holding ``metadata``'s tables."""
    with fresh_database(backend, directory) as database:
        engine = make_engine(database.url)
        try:
            create_schema(engine, metadata)
            yield engine
        finally:
            engine.dispose()


# -- the events a stack published -------------------------------------------------------------


@dataclass
class EventLog:
    """Every payment message drained from the vhosts it watches, in arrival order."""

    messages: list[IncomingMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self, broker_url: str) -> list[IncomingMessage]:
        got = drain(broker_url, "payment_events")
        copies = drain(broker_url, "notifier_payment_events")
        with self.lock:
            self.messages.extend(got)
            self.messages.extend(copies)
        return got

    def for_payment(self, payment_id: str) -> list[IncomingMessage]:
        with self.lock:
            return [
                m
                for m in self.messages
                if m.queue == "payment_events" and m.json().get("paymentId") == payment_id
            ]

    def wait_for_types(
        self, broker_url: str, payment_id: str, types: list[str], timeout: float = 15.0
    ) -> list[IncomingMessage]:
        """Wait until the payment's events, de-duplicated by message_id, are ``types``."""

        def probe() -> list[IncomingMessage] | None:
            self.collect(broker_url)
            events = unique(self.for_payment(payment_id))
            return events if [m.routing_key for m in events] == types else None

        return wait_for(
            probe,
            timeout=timeout,
            what=f"events {types} of {payment_id}",
            seen=lambda: [m.routing_key for m in unique(self.for_payment(payment_id))],
        )


def unique(messages: list[IncomingMessage]) -> list[IncomingMessage]:
    """First occurrence of each message_id, in order (what a de-duplicating consumer sees)."""
    seen: set[str] = set()
    result = []
    for message in messages:
        mid = str(message.properties.get("message_id"))
        if mid not in seen:
            seen.add(mid)
            result.append(message)
    return result


def contract_violations(messages: list[IncomingMessage]) -> list[str]:
    registry = ContractRegistry.load()
    problems = []
    for m in messages:
        for v in registry.validate_delivered(m):
            problems.append(f"{m.routing_key} {m.properties.get('message_id')}: {v}")
    return problems


# -- processes --------------------------------------------------------------------------------


@dataclass
class PaymentStack:
    """A web process and a relay process of the payment service."""

    name: str
    database: Database
    broker_url: str
    provider_url: str
    log_dir: Path
    web_port: int
    relay_port: int
    env: dict[str, str]
    web: ManagedProcess | None = None
    relay: ManagedProcess | None = None
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def relay_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_port}"

    def base_env(self) -> dict[str, str]:
        return {
            "PAYMENT_DATABASE_URL": self.database.url,
            "RABBITMQ_URL": self.broker_url,
            "PROVIDER_URL": self.provider_url,
            "PROVIDER_API_KEY": PROVIDER_API_KEY,
            "PROVIDER_TIMEOUT_S": "2",
            "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PAYMENT_RATE_LIMIT_ENABLED": "false",
            "PAYMENT_HOST": "127.0.0.1",
            "PAYMENT_PORT": str(self.web_port),
            "PAYMENT_RELAY_HEALTH_PORT": str(self.relay_port),
            "PAYMENT_RELAY_BATCH_SIZE": "200",
            "RABBITMQ_RECONNECT_MAX_S": "1",
            "SANDBOX_STATE_DIR": str(self.log_dir),
            **self.env,
        }

    def start(self, *, relay: bool = True) -> PaymentStack:
        env = self.base_env()
        self.web = ManagedProcess.python_module(
            f"{self.name}-web",
            "sandbox.services.payment",
            "web",
            log_file=self.log_dir / f"{self.name}-web.log",
            env=env,
            health_url=f"{self.url}/health",
            cwd=REPO,
        ).start()
        if relay:
            self.start_relay()
        return self

    def relay_process(self) -> ManagedProcess:
        if self.relay is None:
            self.relay = ManagedProcess.python_module(
                f"{self.name}-relay",
                "sandbox.services.payment",
                "relay",
                log_file=self.log_dir / f"{self.name}-relay.log",
                env=self.base_env(),
                health_url=f"{self.relay_url}/health",
                cwd=REPO,
            )
        return self.relay

    def start_relay(self) -> None:
        self.relay_process().start()

    def stop(self) -> None:
        for process in (self.relay, self.web):
            if process is not None:
                process.stop()
        self.http.close()

    # -- HTTP ---------------------------------------------------------------------------------

    def post(self, path: str, body: Any = None, **headers: str) -> requests.Response:
        return self.http.post(f"{self.url}{path}", json=body, headers=headers, timeout=30)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.http.get(f"{self.url}{path}", headers=headers, timeout=30)

    def status(self, transaction_id: str, **headers: str) -> dict[str, Any]:
        response = self.get(f"/payment/status/{transaction_id}", **headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_status(self, transaction_id: str, status: str, timeout: float = 15.0) -> dict:
        return wait_for(
            lambda: (s := self.status(transaction_id))["status"] == status and s,
            timeout=timeout,
            what=f"{transaction_id} to become {status}",
            seen=lambda: self.status(transaction_id)["status"],
        )

    def relay_health(self) -> requests.Response:
        return requests.get(f"{self.relay_url}/health", timeout=5)


# -- the mock provider --------------------------------------------------------------------------


@dataclass
class Provider:
    """The mock provider process and its control API."""

    url: str
    process: ManagedProcess
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def client(self) -> ProviderClient:
        return ProviderClient(self.url, session=self.http)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return self.client.call(method, f"/_control{path}", json=body)

    def fault(self, path: str, method: str = "POST", **rule: Any) -> dict[str, Any]:
        return self.client.add_fault(path=path, method=method, **rule)

    def webhook_faults(self, **faults: Any) -> None:
        self.client.webhook_faults(**faults)

    def set_clock(self, moment: datetime) -> None:
        self.client.set_clock(moment.timestamp())

    def clean(self) -> None:
        """Back to no faults, immediate webhooks and real time (state is kept)."""
        self.client.clear_faults()
        self.client.real_time()

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        return self.client.deliveries(**filters)

    def stripe(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            PROVIDER_API_KEY, base_addresses={"api": self.url}, max_network_retries=0
        )


@contextmanager
def provider_process(log_dir: Path, webhook_urls: list[str]) -> Iterator[Provider]:
    port = free_port()
    process = ManagedProcess.python_module(
        "mock-provider",
        "mocks.provider",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        log_file=log_dir / "mock-provider.log",
        env={
            "PROVIDER_WEBHOOK_URL": ",".join(webhook_urls),
            "PROVIDER_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PROVIDER_WEBHOOK_RETRY_BASE_S": "0.2",
            "PROVIDER_WEBHOOK_RETRY_MAX_S": "1",
            "PROVIDER_WEBHOOK_MAX_ATTEMPTS": "4",
            "PROVIDER_SEED": "3",
        },
        health_url=f"http://127.0.0.1:{port}/health",
        cwd=REPO,
    ).start()
    try:
        yield Provider(f"http://127.0.0.1:{port}", process)
    finally:
        process.stop()


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a process log (gunicorn's own lines are skipped)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def utc(year: int, month: int, day: int, hour: int = 10, minute: int = 30) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
