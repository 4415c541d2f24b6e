"""What a fault plan expands to (``Step``, ``Schedule``), and the reader of a plan's
fields whose every refusal is a ``FaultPlanError`` naming the field, the value and what
was expected (docs/fault-plans.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_AT_S = 24 * 3600.0
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


class FaultPlanError(ValueError):
    """The plan cannot be run; the message names the field, the value and what is expected."""


@dataclass(frozen=True)
class Step:
    """One thing the runner does, ``at_s`` seconds after the load started."""

    at_s: float
    action: str
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fault: str = ""  # the declaration it comes from, e.g. "faults[2]" or "random[0]#3"

    def describe(self) -> str:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.params.items())
        return f"{self.action} {self.target}" + (f" ({shown})" if shown else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "at_s": self.at_s,
            "action": self.action,
            "target": self.target,
            "params": dict(self.params),
            "fault": self.fault,
        }


@dataclass(frozen=True)
class Schedule:
    name: str
    seed: int
    steps: tuple[Step, ...]
    source: str = ""
    description: str = ""

    @property
    def end_s(self) -> float:
        return max((s.at_s for s in self.steps), default=0.0)

    @property
    def uses(self) -> frozenset[str]:
        """The kinds of fault the plan applies (what the runner resets at the end)."""
        return frozenset(s.action for s in self.steps)

    def render(self) -> str:
        lines = [f"fault plan {self.name!r} (seed {self.seed}): {len(self.steps)} step(s)"]
        lines += [f"  {s.at_s:8.1f}s  {s.describe():<60} [{s.fault}]" for s in self.steps]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "source": self.source,
            "steps": [s.to_dict() for s in self.steps],
        }


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


# -- reading fields with errors that name them ------------------------------------------


class Fields:
    """One mapping of the plan, read field by field; unknown fields are errors."""

    def __init__(self, data: Any, where: str) -> None:
        self.where = where
        if not isinstance(data, dict):
            raise self.error("", data, "a mapping of fields")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if key and self.where else key or self.where or "plan"

    def error(self, key: str, value: Any, expected: str) -> FaultPlanError:
        return FaultPlanError(f"{self.name(key)}: got {brief(value)}; expected {expected}")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise FaultPlanError(f"{self.name(key)}: missing; this field is required")
            return None
        return self.data[key]

    def duration(self, key: str, required: bool = False, maximum: float = MAX_AT_S) -> float | None:
        value = self.get(key, required)
        return None if value is None else parse_duration(value, self.name(key), maximum)

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.get(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise self.error(key, value, f"a number from {low:g} to {high:g}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(key, value, f"a whole number from {low} to {high}")
        return value

    def text(self, key: str, default: str, choices: Sequence[str] = ()) -> str:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, value, "a non-empty string")
        if choices and value not in choices:
            raise self.error(key, value, f"one of {', '.join(choices)}")
        return value

    def done(self, allowed: Sequence[str] = ()) -> None:
        extra = sorted(set(self.data) - self.seen - set(allowed))
        if extra:
            known = ", ".join(sorted(self.seen | set(allowed)))
            raise FaultPlanError(f"{self.name(extra[0])}: unknown field; known here: {known}")


def brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_duration(value: Any, where: str, maximum: float = MAX_AT_S) -> float:
    """Seconds from 30, 2.5, "30s", "500ms", "2m" or "1m30s"."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(n) * unit[u] for n, u in parts)
        else:
            try:
                seconds = float(text)
            except ValueError:
                seconds = None
    if seconds is None or not 0 <= seconds <= maximum:
        raise FaultPlanError(
            f"{where}: got {brief(value)}; expected a duration from 0 to {maximum:g} s: "
            'seconds as a number, or a string like "30s", "500ms", "2m", "1m30s"'
        )
    return round(seconds, 3)
