"""Declarative parameter specs: check and convert parsed form data per endpoint.

Each endpoint declares its parameters as a dict of :class:`Field` objects.  Checking
converts strings to ints and booleans, rejects unknown parameters and names the exact
parameter (``card[exp_month]``) in every error, as Stripe does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mocks.provider.errors import invalid, missing, unknown_param

Spec = Mapping[str, "Field"]
_INTEGER = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class Field:
    """A parameter; subclasses convert its value."""

    required: bool = False

    def convert(self, value: Any, name: str) -> Any:
        return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string, not a hash or list.", name)
    return value


@dataclass(frozen=True)
class Str(Field):
    choices: tuple[str, ...] = ()
    max_len: int = 5000
    blank: bool = True

    def convert(self, value: Any, name: str) -> str:
        text = _string(value, name)
        if self.choices and text not in self.choices:
            raise invalid(f"Invalid {name}: must be one of {', '.join(self.choices)}.", name)
        if not self.blank and not text.strip():
            raise invalid(
                f"You passed an empty string for '{name}'. We assume empty values are an "
                f"attempt to unset a parameter; however '{name}' cannot be unset.",
                name,
                code="parameter_invalid_empty",
            )
        if len(text) > self.max_len:
            raise invalid(f"Invalid {name}: at most {self.max_len} characters.", name)
        return text


@dataclass(frozen=True)
class Int(Field):
    minimum: int | None = None
    maximum: int | None = None

    def convert(self, value: Any, name: str) -> int:
        text = _string(value, name).strip()
        if not _INTEGER.fullmatch(text):
            raise invalid(f"Invalid integer: {value}", name, code="parameter_invalid_integer")
        number = int(text)
        if self.minimum is not None and number < self.minimum:
            raise invalid(
                f"Invalid {name}: must be at least {self.minimum}.",
                name,
                code="parameter_invalid_integer",
            )
        if self.maximum is not None and number > self.maximum:
            raise invalid(
                f"Invalid {name}: must be at most {self.maximum}.",
                name,
                code="parameter_invalid_integer",
            )
        return number


@dataclass(frozen=True)
class Bool(Field):
    def convert(self, value: Any, name: str) -> bool:
        text = _string(value, name)
        if text not in ("true", "false"):
            raise invalid(f"Invalid boolean: {text!r} (use true or false).", name)
        return text == "true"


@dataclass(frozen=True)
class Metadata(Field):
    """Stripe's metadata: up to 50 string keys (40 chars) with string values (500 chars)."""

    def convert(self, value: Any, name: str) -> dict[str, str]:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {name} must be a hash of strings.", name)
        if len(value) > 50:
            raise invalid(f"Invalid {name}: at most 50 keys.", name)
        out: dict[str, str] = {}
        for key, item in value.items():
            item_name = f"{name}[{key}]"
            if len(key) > 40:
                raise invalid(f"Invalid {item_name}: keys have at most 40 characters.", item_name)
            text = _string(item, item_name)
            if len(text) > 500:
                raise invalid(
                    f"Invalid {item_name}: values have at most 500 characters.", item_name
                )
            out[key] = text
        return out


@dataclass(frozen=True)
class Obj(Field):
    fields: Spec = field(default_factory=dict)

    def convert(self, value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {name} must be a hash.", name)
        return check(value, self.fields, prefix=name)


@dataclass(frozen=True)
class List(Field):
    item: Field = field(default_factory=lambda: Str())

    def convert(self, value: Any, name: str) -> list[Any]:
        if value == "":
            return []
        if not isinstance(value, list):
            raise invalid(f"Invalid array: {name} must be an array.", name)
        return [self.item.convert(v, f"{name}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class Free(Field):
    """Accepted and kept as sent (options the mock does not act on)."""


@dataclass(frozen=True)
class Range(Field):
    """A timestamp filter: an integer or a hash of gt/gte/lt/lte integers."""

    def convert(self, value: Any, name: str) -> dict[str, int]:
        if isinstance(value, str):
            return {"eq": Int().convert(value, name)}
        bounds = Obj(fields={k: Int() for k in ("gt", "gte", "lt", "lte")}).convert(value, name)
        return {k: v for k, v in bounds.items() if v is not None}


def check(params: Mapping[str, Any], spec: Spec, prefix: str = "") -> dict[str, Any]:
    """Return ``params`` converted per ``spec``; raise a StripeError naming the parameter."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in spec:
            raise unknown_param(name)
        out[key] = spec[key].convert(value, name)
    for key, rule in spec.items():
        if rule.required and key not in out:
            raise missing(f"{prefix}[{key}]" if prefix else key)
    return out


EXPAND = List(item=Str(max_len=200))
LIST_SPEC: dict[str, Field] = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(max_len=200),
    "ending_before": Str(max_len=200),
    "created": Range(),
    "expand": EXPAND,
}
