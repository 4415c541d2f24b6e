"""What can go wrong with webhook deliveries: delay, duplication, reordering, loss.

Each fault has a probability; the draws come from one RNG seeded from the provider's
seed, and every delivery draws the same number of values whatever is configured, so
a run with the same seed and the same events makes the same choices.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mocks.provider.control_input import Reader


@dataclass(frozen=True)
class Delay:
    probability: float = 0.0
    ms: float = 0.0
    jitter_ms: float = 0.0


@dataclass(frozen=True)
class Duplicate:
    probability: float = 0.0
    copies: int = 1


@dataclass(frozen=True)
class Reorder:
    """A chosen delivery is held back until the next one to its endpoint has gone out."""

    probability: float = 0.0
    # deliver it anyway after this long if no later event comes
    hold_ms: float = 1000.0


@dataclass(frozen=True)
class Loss:
    probability: float = 0.0


@dataclass(frozen=True)
class WebhookFaults:
    delay: Delay = field(default_factory=Delay)
    duplicate: Duplicate = field(default_factory=Duplicate)
    reorder: Reorder = field(default_factory=Reorder)
    loss: Loss = field(default_factory=Loss)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """The faults drawn for one delivery."""

    lost: bool
    copies: int
    delay_s: float
    hold: bool


def _probability(r: Reader) -> float:
    return r.number("probability", default=1.0, maximum=1.0)


# How each fault is read from its JSON object, in the order they are checked.
_READERS: dict[str, Callable[[Reader], Any]] = {
    "delay": lambda r: Delay(
        _probability(r), r.number("ms", maximum=600_000), r.number("jitter_ms", maximum=600_000)
    ),
    "duplicate": lambda r: Duplicate(
        _probability(r), r.integer("copies", default=1, minimum=1, maximum=10)
    ),
    "reorder": lambda r: Reorder(
        _probability(r), r.number("hold_ms", default=1000.0, maximum=600_000)
    ),
    "loss": lambda r: Loss(_probability(r)),
}


def parse(body: Any) -> WebhookFaults:
    """Build the webhook faults from the control API's JSON, or raise a 400."""
    r = Reader(body)
    given = {name: r.object(name) for name in _READERS}
    r.no_extra()
    faults: dict[str, Any] = {}
    for name, raw in given.items():
        if raw is not None:
            fields = Reader(raw, name)
            faults[name] = _READERS[name](fields)
            fields.no_extra()
    return WebhookFaults(**faults)


def draw(faults: WebhookFaults, rng: random.Random) -> Plan:
    """Draw one delivery's plan; always five draws, in the same order."""
    lost, dup, delayed, jitter, held = (rng.random() for _ in range(5))
    delay_s = 0.0
    if delayed < faults.delay.probability:
        delay_s = (faults.delay.ms + jitter * faults.delay.jitter_ms) / 1000
    return Plan(
        lost=lost < faults.loss.probability,
        copies=faults.duplicate.copies if dup < faults.duplicate.probability else 0,
        delay_s=delay_s,
        hold=held < faults.reorder.probability,
    )
