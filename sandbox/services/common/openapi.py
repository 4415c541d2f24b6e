"""Request bodies checked against a service's own OpenAPI document (contract first).

The schema in the document is the validation, so the two cannot drift: jsonschema-rs
recognises a valid body first, and jsonschema judges only a body it refused, naming the
field at fault in a 422 ``ApiError`` (``sandbox.services.common.web``'s error shape).
Kept apart from ``web`` so that a process serving no such document (the supervisor's
control API) loads neither validator.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox import strict_json
from sandbox.contracts.files import load_yaml
from sandbox.contracts.validation import FastCheck, fast_check
from sandbox.services.common.web import ApiError


def _multiple_of(
    validator: Any, divisor: float, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """``multipleOf`` on the decimal the JSON text spells, as JSON Schema means it.

    jsonschema divides binary floats, so 0.07 is no multiple of 0.01 there (0.07 / 0.01 is
    7.000000000000001); ``repr`` gives back the shortest decimal of the number received.
    """
    if not validator.is_type(instance, "number"):
        return
    quotient = Fraction(repr(instance)) / Fraction(repr(divisor))
    if quotient.denominator != 1:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor!r}")


# Draft 2020-12 with decimal multipleOf (strict_json has already refused NaN and Infinity).
_Validator = validators.extend(Draft202012Validator, {"multipleOf": _multiple_of})


class OpenApiDocument:
    """A service's OpenAPI 3.1 document, loaded once, validating request bodies."""

    URI = "urn:service-openapi"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.document: dict[str, Any] = load_yaml(path)  # libyaml's loader when present
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self.URI, resource)
        self._checker = FormatChecker()
        self._validators: dict[tuple[str, str], tuple[Any, FastCheck | None]] = {}

    def _validator(self, method: str, path_template: str) -> tuple[Any, FastCheck | None] | None:
        """The operation's body validator, and the fast check that recognises a valid body
        first (``sandbox.contracts.validation.fast_check``); None without a JSON body."""
        key = (method.lower(), path_template)
        if key not in self._validators:
            operation = self.document.get("paths", {}).get(path_template, {}).get(key[0], {})
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                return None
            pointer = "/".join(
                part.replace("~", "~0").replace("/", "~1")
                for part in (
                    "paths",
                    path_template,
                    key[0],
                    "requestBody",
                    "content",
                    "application/json",
                    "schema",
                )
            )
            validator = _Validator(
                {"$ref": f"{self.URI}#/{pointer}"},
                registry=self._registry,
                format_checker=self._checker,
            )
            self._validators[key] = (validator, self._fast_check(pointer))
        return self._validators[key]

    def _fast_check(self, pointer: str) -> FastCheck | None:
        """jsonschema-rs on the same schema: the document itself, its ``$ref`` pointing at
        the operation's body (so the document's own ``$ref``s resolve as they do above),
        with the formats checked by the same functions as jsonschema's.  It only ever
        accepts: a body it refuses goes to jsonschema, which decides and explains."""
        checks = {
            name: functools.partial(self._checker.conforms, format=name)
            for name in self._checker.checkers
        }
        # a URI fragment: a path template's braces percent-encoded
        fragment = urllib.parse.quote(pointer, safe="/~")
        return fast_check({**self.document, "$ref": f"#/{fragment}"}, formats=checks)

    def validate_body(
        self, method: str, path_template: str, body: dict[str, Any], code: str
    ) -> None:
        """Raise ApiError(422, code) naming the first failing field, if any."""
        found = self._validator(method, path_template)
        if found is None:
            return
        validator, fast = found
        if fast is not None and fast(body):
            return
        errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.path), e.message))
        if not errors:
            return
        error = _most_specific(errors[0])
        field = ".".join(str(p) for p in error.absolute_path) or _missing_field(error)
        field = strict_json.clip(field, 100)
        raise ApiError(code, _describe(error, field), 422, field=field or None)


def _most_specific(error: ValidationError) -> ValidationError:
    while error.context:
        error = min(error.context, key=lambda e: len(e.path))
    return error


def _missing_field(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        return missing[0] if missing else ""
    return ""


def _describe(error: ValidationError, field: str) -> str:
    if error.validator == "required":
        return f"{field} is required"
    if error.validator == "additionalProperties":
        return f"unknown field: {error.message}"
    where = field or "request body"
    return f"{where}: {error.message}"
