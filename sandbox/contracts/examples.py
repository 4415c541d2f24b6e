"""Valid event bodies on demand, for tests, scenarios and consumer contract tests.

``example_body`` returns a fresh copy of the routing key's ``valid/basic.json`` example,
so that tests start from the same documented body the contract check validates.
``fake_body`` generates varied valid bodies with Faker: it walks the event's schema (so
new optional fields are picked up), fills known fields with realistic values, and keeps
the rules a schema walk cannot see (a full refund refunds the whole amount).
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable, Mapping
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.contracts import files
from sandbox.contracts.owed import owed
from sandbox.contracts.registry import ContractRegistry

if TYPE_CHECKING:  # Faker is slow to import; only fake_body needs it
    from faker import Faker

BASIC_EXAMPLE = "basic.json"
ERROR_CODES = ("INSUFFICIENT_FUNDS", "CARD_DECLINED", "CARD_EXPIRED", "PAYMENT_GATEWAY_ERROR")
SERVICES = ("Haircut", "Facial treatment", "Massage (60 min)", "Dental check-up", "Consultation")


def example_body(
    routing_key: str, *, contracts_dir: str | Path | None = None, **overrides: Any
) -> dict[str, Any]:
    """A fresh copy of the documented valid body for ``routing_key``, with ``overrides``."""
    registry = ContractRegistry.load(contracts_dir)
    registry.contract(routing_key)  # raises UnknownRoutingKeyError for unknown keys
    body = copy.deepcopy(_basic_example(registry.contracts_dir, routing_key))
    body.update(overrides)
    return body


@functools.lru_cache(maxsize=64)
def _basic_example(contracts_dir: Path, routing_key: str) -> dict[str, Any]:
    path = files.events_dir(contracts_dir) / "examples" / routing_key / "valid" / BASIC_EXAMPLE
    body = files.load_json(path)
    if not isinstance(body, dict):
        raise files.ContractLoadError("example body is not an object", path)
    return body


def fake_body(
    routing_key: str,
    seed: Faker | random.Random | int,
    *,
    contracts_dir: str | Path | None = None,
) -> dict[str, Any]:
    """A varied, valid body for ``routing_key``; the same seed gives the same body."""
    registry = ContractRegistry.load(contracts_dir)
    schema = registry.bundled_schema(routing_key)
    fake = _faker(seed)
    body = _fake_object(schema, fake)
    fixup = _FIXUPS.get(routing_key)
    if fixup is not None:
        fixup(body, fake)
    return body


def _faker(seed: Faker | random.Random | int) -> Faker:
    from faker import Faker

    if isinstance(seed, Faker):
        return seed
    fake = Faker()
    fake.seed_instance(seed.getrandbits(32) if isinstance(seed, random.Random) else seed)
    return fake


def _money(fake: Faker, low: float = 1, high: float = 500) -> float:
    cents = fake.pyint(int(low * 100), int(high * 100))
    return float(Decimal(cents) / 100)


def _utc_timestamp(fake: Faker) -> str:
    moment = fake.date_time_between("-2y", "now", tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _start_time(fake: Faker) -> str:
    offset = timezone(timedelta(hours=fake.pyint(-8, 10)))
    return fake.date_time_between("now", "+60d", tzinfo=offset).replace(microsecond=0).isoformat()


def _id(prefix: str) -> Callable[[Faker], str]:
    return lambda fake: f"{prefix}_{fake.hexify('^' * 16)}"


_FIELDS: dict[str, Callable[[Faker], Any]] = {
    "tenantId": lambda fake: f"tenant_{fake.pyint(1, 50)}",
    "paymentId": _id("pay"),
    "appointmentId": _id("appt"),
    "customerId": _id("cust"),
    "refundId": _id("re"),
    "sourceEventId": lambda fake: fake.hexify("^" * 32),
    "amount": _money,
    "currency": lambda fake: fake.random_element(("USD", "EUR", "GBP", "CHF", "SEK")),
    "timestamp": _utc_timestamp,
    "startTime": _start_time,
    "customerEmail": lambda fake: fake.email(),
    "customerName": lambda fake: fake.name(),
    "service": lambda fake: fake.random_element(SERVICES),
    "reason": lambda fake: fake.sentence(nb_words=5),
    "template": lambda fake: fake.random_element(tuple(owed().emails.values())),
    "recipient": lambda fake: fake.email(),
    "error": lambda fake: {
        "code": fake.random_element(ERROR_CODES),
        "message": fake.sentence(nb_words=6),
    },
}


def _fake_object(schema: Mapping[str, Any], fake: Faker) -> dict[str, Any]:
    required = set(schema.get("required", []))
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if name not in required and fake.pybool():
            continue  # optional fields come and go
        body[name] = _fake_value(name, prop, fake)
    return body


def _fake_value(name: str, schema: Mapping[str, Any], fake: Faker) -> Any:
    branches = schema.get("anyOf", [])
    if {"type": "null"} in branches:
        if fake.pyint(0, 3) == 0:
            return None
        schema = next(b for b in branches if b != {"type": "null"})
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return fake.random_element(schema["enum"])
    if name in _FIELDS:
        return _FIELDS[name](fake)
    if schema.get("type") == "object":
        return _fake_object(schema, fake)
    if schema.get("type") in ("number", "integer"):
        return fake.pyint(0, 100)
    if schema.get("type") == "boolean":
        return fake.pybool()
    return fake.word()


def _refund(body: dict[str, Any], fake: Faker) -> None:
    full = body["refundType"] == "full"
    body["status"] = "refunded" if full else "partially_refunded"
    body["amount"] = max(body["amount"], 1.0)
    body["refundedAmount"] = body["amount"] if full else _money(fake, 0.01, body["amount"] - 0.01)


def _notification(body: dict[str, Any], fake: Faker) -> None:
    if body.get("channel") == "webhook":
        if "recipient" in body:
            body["recipient"] = fake.url() + "callbacks/payments"
        if "template" in body:
            body["template"] = "merchant_callback"


_FIXUPS: dict[str, Callable[[dict[str, Any], Faker], None]] = {
    "payment.refunded": _refund,
    "notification.sent": _notification,
    "notification.failed": _notification,
}
