"""JSON Schema machinery: one validator class, one format checker, readable violations.

The validator is Draft 2020-12 plus one keyword, ``x-maxDecimalPlaces``: money is a
JSON number in major units, and ``multipleOf: 0.01`` rejects binary floats such as
75.1 (75.1 / 0.01 is 7509.999...), so decimals are counted on the number's shortest
decimal form instead.  ``date-time`` is checked by our own function so that the check
does not silently vanish when jsonschema's optional ``rfc3339-validator`` is missing.

Every message a service consumes is validated, and nearly all of them are valid, so a
valid one is recognised by jsonschema-rs (compiled, about 30 times faster) and only an
invalid one goes through jsonschema, which explains what is wrong.  Both run the same
schema with the same keyword and format rules; ``tests/contracts`` holds the valid and
invalid examples both must agree on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.contracts.violations import (
    MISSING_PROPERTY,
    SCHEMA_VIOLATION,
    Violation,
    json_path,
)

_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_MAX_MESSAGE = 300


def is_rfc3339_date_time(value: object) -> bool:
    """True for an RFC 3339 date-time with an offset that names a real instant."""
    if not isinstance(value, str):
        return True  # format applies to strings only; "type" judges the rest
    if not _RFC3339.match(value):
        return False
    normalised = value.upper().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def decimal_places(number: float | int) -> int | None:
    """Decimals in the shortest decimal form of ``number``; None if it is not finite."""
    if isinstance(number, float) and not math.isfinite(number):
        return None
    exponent = Decimal(repr(number)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _max_decimal_places(
    validator: Validator, places: int, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "number"):
        return
    found = decimal_places(instance)
    if found is None:
        yield ValidationError(f"{instance!r} is not a finite number")
    elif found > places:
        yield ValidationError(f"{instance!r} has {found} decimal places, at most {places} allowed")


ContractValidator = extend(
    Draft202012Validator, validators={"x-maxDecimalPlaces": _max_decimal_places}
)


class _MaxDecimalPlacesRs:
    """``x-maxDecimalPlaces`` for jsonschema-rs: the rule of ``_max_decimal_places``."""

    def __init__(self, _parent: Any, places: int, _path: Any) -> None:
        self.places = places

    def validate(self, instance: Any) -> None:
        if isinstance(instance, bool) or not isinstance(instance, int | float):
            return
        found = decimal_places(instance)
        if found is None or found > self.places:
            raise ValueError(f"{instance!r}: at most {self.places} decimal places")


FastCheck = Callable[[Any], bool]


def fast_check(
    schema: Mapping[str, Any], formats: Mapping[str, Callable[[str], bool]] | None = None
) -> FastCheck | None:
    """True for an instance the schema accepts, by jsonschema-rs; None when it cannot
    compile the schema (the full validator then judges every instance).  ``formats``
    replaces the format checks (default: ``date-time`` by ``is_rfc3339_date_time``)."""
    try:
        compiled = jsonschema_rs.Draft202012Validator(
            dict(schema),
            formats=dict(formats) if formats is not None else {"date-time": is_rfc3339_date_time},
            validate_formats=True,
            keywords={"x-maxDecimalPlaces": _MaxDecimalPlacesRs},
        )
    except Exception:
        return None

    def accepts(instance: Any) -> bool:
        try:
            return bool(compiled.is_valid(instance))
        except Exception:
            return False

    return accepts


def format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checks("date-time")(is_rfc3339_date_time)
    return checker


def schema_registry(schemas: Iterable[Mapping[str, Any]]) -> Registry[Any]:
    """A ``referencing`` registry holding ``schemas`` under their ``$id``."""
    resources = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in schemas
        if isinstance(schema, Mapping) and isinstance(schema.get("$id"), str)
    ]
    return Registry().with_resources(resources).crawl()


def build_validator(
    schema: Mapping[str, Any], registry: Registry[Any], checker: FormatChecker
) -> Validator:
    return ContractValidator(schema, registry=registry, format_checker=checker)


def violations(
    validator: Validator, instance: Any, root: str, fast: FastCheck | None = None
) -> list[Violation]:
    """Every way ``instance`` breaks the validator's schema, as violations under ``root``;
    ``fast`` recognises a valid instance first."""
    if fast is not None and fast(instance):
        return []
    found: list[Violation] = []
    for error in validator.iter_errors(instance):
        found.extend(_from_error(error, root))
    return _deduplicate(found)


def _from_error(error: ValidationError, root: str) -> Iterator[Violation]:
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        for name in error.validator_value:
            if name not in error.instance:
                path = json_path(root, [*parts, name])
                yield Violation(MISSING_PROPERTY, f"required property {name!r} is missing", path)
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        for name in _unexpected(error.instance, error.schema):
            message = f"unexpected property {name!r}: the contract does not list it"
            yield Violation(SCHEMA_VIOLATION, message, json_path(root, [*parts, name]))
        return
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        message = (
            f"property name {error.instance!r} is forbidden: card numbers, CVC and expiry "
            "never travel in events"
        )
        yield Violation(SCHEMA_VIOLATION, message, json_path(root, [*parts, error.instance]))
        return
    message = error.message
    if error.validator in ("anyOf", "oneOf") and error.context:
        # For a nullable field, say what is wrong with the value, not that it isn't null.
        relevant = [e for e in error.context if e.validator_value != "null"] or error.context
        message = best_match(relevant).message
    yield Violation(SCHEMA_VIOLATION, _shorten(message), json_path(root, parts))


def _unexpected(instance: Mapping[str, Any], schema: Mapping[str, Any] | bool) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        name
        for name in instance
        if name not in declared and not any(p.search(name) for p in patterns)
    ]


def _deduplicate(found: list[Violation]) -> list[Violation]:
    """One violation per (code, path); a forbidden card field beats 'unexpected property'."""
    best: dict[tuple[str, str], Violation] = {}
    for violation in found:
        key = (violation.code, violation.path)
        if key not in best or "forbidden" in violation.message:
            best[key] = violation
    return list(best.values())


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
