"""Read a JSON request body strictly: one meaning per document, or a clear refusal.

Python's ``json`` module accepts documents that other parsers read differently or that
cannot be stored: ``NaN`` and ``Infinity``, numbers that overflow to infinity, repeated
keys (the last one silently wins), strings holding lone UTF-16 surrogates (``"\\ud800"``
decodes to a str that no UTF-8 database or log can encode), and nesting deep enough to
exhaust the interpreter's stack.  ``loads`` refuses all of them with ``JsonError``, so a
body that passes is plain data every later step (validation, storage, events) can handle.
Every service and mock reads its JSON bodies through it.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Far deeper than any body of ours; deep enough nesting to matter is an attack.
MAX_DEPTH = 64


class JsonError(ValueError):
    """The body is not one unambiguous JSON document; the message says why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonError(f"duplicate key {clip(key, 40)!r}")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError("number out of range")
    return value


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` (UTF-8 when bytes) or raise JsonError."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JsonError("body is not valid UTF-8") from None
    try:
        data = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except RecursionError:
        raise JsonError(f"nested deeper than {max_depth} levels") from None
    except JsonError:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() past its digit limit
        raise JsonError(clip(str(exc), 120)) from None
    _check_tree(data, max_depth)
    return data


def _check_tree(data: Any, max_depth: int) -> None:
    """Refuse nesting past ``max_depth`` and strings that are not valid Unicode text."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise JsonError(f"nested deeper than {max_depth} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonError("a string holds a lone UTF-16 surrogate (not valid Unicode)") from None


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut: errors never echo a huge value."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
