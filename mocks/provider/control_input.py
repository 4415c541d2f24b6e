"""Read the control API's JSON bodies field by field, with 400s that name the field."""

from __future__ import annotations

import math
from typing import Any

from mocks.provider.errors import StripeError


class Reader:
    """Typed access to one JSON object; remembers which fields were read."""

    def __init__(self, body: Any, prefix: str = "") -> None:
        self._prefix = prefix
        if not isinstance(body, dict):
            raise self.error("", "expected a JSON object")
        self._body: dict[str, Any] = body
        self._seen: set[str] = set()

    def _name(self, key: str) -> str:
        if not key:
            return self._prefix or "body"
        return f"{self._prefix}.{key}" if self._prefix else key

    def error(self, key: str, message: str) -> StripeError:
        name = self._name(key)
        return StripeError(400, f"{name}: {message}.", code="parameter_invalid", param=name)

    def has(self, key: str) -> bool:
        return key in self._body

    def _get(self, key: str, required: bool) -> Any:
        self._seen.add(key)
        if key not in self._body:
            if required:
                raise StripeError(
                    400,
                    f"{self._name(key)}: this field is required.",
                    code="parameter_missing",
                    param=self._name(key),
                )
            return None
        value = self._body[key]
        if value is None:
            raise self.error(key, "null is not allowed; leave the field out instead")
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str | None = None,
        choices: tuple[str, ...] = (),
    ) -> Any:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value or len(value) > 2000:
            raise self.error(key, "expected a non-empty string of at most 2000 characters")
        if choices and value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}")
        return value

    def number(
        self, key: str, *, default: float = 0.0, minimum: float = 0.0, maximum: float = 1e12
    ) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "expected a number")
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise self.error(key, f"expected a number between {minimum:g} and {maximum:g}")
        return float(value)

    def integer(
        self,
        key: str,
        *,
        default: int | None = None,
        minimum: int = -(2**53),
        maximum: int = 2**53,
    ) -> Any:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON does not tell 17 from 17.0
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, "expected an integer")
        if not minimum <= value <= maximum:
            raise self.error(key, f"expected an integer between {minimum} and {maximum}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, "expected true or false")
        return value

    def object(self, key: str) -> dict[str, Any] | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, dict):
            raise self.error(key, "expected a JSON object")
        return value

    def no_extra(self) -> None:
        """Refuse fields nobody asked for, so a typo is an error and not a silent no-op."""
        extra = sorted(set(self._body) - self._seen)
        if extra:
            raise self.error(extra[0], "unknown field")
