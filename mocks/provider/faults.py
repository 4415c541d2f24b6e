"""Fault injection on the Stripe API: latency, error responses and hangs, per endpoint.

A rule matches requests by method and path pattern (``*`` is one path segment, ``**``
any number) and fires with a probability drawn from its own RNG, seeded from the
provider's seed and the rule's id.  Two runs that set the same seed and add the same
rules therefore see the same sequence of faults, whatever other traffic does.
Rules run before authentication and idempotency: they stand for Stripe or the network
failing, so an injected error is never stored as an idempotent response.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from mocks.provider.control_input import Reader
from mocks.provider.errors import StripeError

ERROR_TYPES = (
    "api_error",
    "card_error",
    "idempotency_error",
    "invalid_request_error",
    "rate_limit_error",
    "authentication_error",
)
MAX_HANG_S = 3600.0


def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\*\*|\*)", pattern):
        if piece == "**":
            parts.append(".*")
        elif piece == "*":
            parts.append("[^/]+")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


@dataclass
class FaultRule:
    """One injected fault and its counters."""

    id: str
    method: str
    path: str
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hang_s: float = 0.0
    error: dict[str, Any] | None = None
    probability: float = 1.0
    count: int | None = None
    matched: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    regex: re.Pattern[str] = field(default=re.compile(""), repr=False)

    def to_json(self) -> dict[str, Any]:
        remaining = None if self.count is None else max(self.count - self.fired, 0)
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "hang_s": self.hang_s,
            "error": self.error,
            "probability": self.probability,
            "count": self.count,
            "remaining": remaining,
            "matched": self.matched,
            "fired": self.fired,
        }


def parse_rule(body: Any, rule_id: str) -> FaultRule:
    """Build a rule from the control API's JSON, or raise a 400 naming the field."""
    r = Reader(body)
    rule = FaultRule(
        id=rule_id,
        method=r.string("method", default="*").upper(),
        path=r.string("path", required=True),
        latency_ms=r.number("latency_ms", default=0.0, maximum=600_000),
        jitter_ms=r.number("jitter_ms", default=0.0, maximum=600_000),
        hang_s=r.number("hang_s", default=0.0, maximum=MAX_HANG_S),
        probability=r.number("probability", default=1.0, maximum=1.0),
        count=r.integer("count", minimum=1),
        error=_parse_error(r.object("error")),
    )
    r.no_extra()
    if not rule.path.startswith("/"):
        raise r.error("path", "path must start with '/', e.g. /v1/payment_intents/*/confirm")
    if not any(r.has(key) for key in ("latency_ms", "jitter_ms", "hang_s", "error")):
        raise r.error("error", "give at least one of latency_ms, jitter_ms, hang_s or error")
    rule.regex = compile_pattern(rule.path)
    return rule


def _parse_error(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    r = Reader(body, prefix="error")
    error = {
        "status": r.integer("status", default=500, minimum=400, maximum=599),
        "type": r.string("type", default="api_error", choices=ERROR_TYPES),
        "code": r.string("code"),
        "decline_code": r.string("decline_code"),
        "message": r.string("message", default="Injected fault from the mock provider."),
        "param": r.string("param"),
        "should_retry": r.boolean("should_retry"),
    }
    r.no_extra()
    return error


class FaultInjector:
    """The active rules and the seed their RNGs derive from."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._counter = 0
        # set to end every running hang at once (reset, rule removal, shutdown)
        self._release = threading.Event()

    @property
    def seed(self) -> int:
        return self._seed

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            for rule in self._rules:
                rule.rng.seed(f"{seed}:{rule.id}")

    def add(self, body: Any) -> FaultRule:
        with self._lock:
            self._counter += 1
            rule = parse_rule(body, f"flt_{self._counter}")
            rule.rng.seed(f"{self._seed}:{rule.id}")
            self._rules.append(rule)
            return rule

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            removed = len(self._rules) != before
        if removed:
            self.release_hangs()
        return removed

    def clear(self, reset_ids: bool = False) -> None:
        with self._lock:
            self._rules = []
            if reset_ids:
                self._counter = 0
        self.release_hangs()

    def release_hangs(self) -> None:
        old, self._release = self._release, threading.Event()
        old.set()

    def apply(self, method: str, path: str) -> StripeError | None:
        """Delay as the matching rules say; return the error to send, if any."""
        delay_s, hang_s, error = self._decide(method, path)
        release = self._release  # reset/removal/shutdown ends every wait at once
        if delay_s > 0:
            release.wait(delay_s)
        if hang_s > 0:
            release.wait(hang_s)
        return error

    def _decide(self, method: str, path: str) -> tuple[float, float, StripeError | None]:
        delay_s, hang_s, error = 0.0, 0.0, None
        with self._lock:
            for rule in self._rules:
                if rule.method not in ("*", method) or not rule.regex.fullmatch(path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                rule.matched += 1
                draw, jitter = rule.rng.random(), rule.rng.random()
                if draw >= rule.probability:
                    continue
                rule.fired += 1
                delay_s += (rule.latency_ms + jitter * rule.jitter_ms) / 1000
                hang_s = max(hang_s, rule.hang_s)
                if error is None and rule.error is not None:
                    error = _to_error(rule.error)
        return delay_s, hang_s, error


def _to_error(spec: dict[str, Any]) -> StripeError:
    error = StripeError(
        spec["status"],
        spec["message"],
        type=spec["type"],
        code=spec["code"],
        param=spec["param"],
        decline_code=spec["decline_code"],
    )
    if spec["should_retry"] is not None:
        error.headers["Stripe-Should-Retry"] = str(spec["should_retry"]).lower()
    return error
