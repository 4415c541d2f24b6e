"""Parse Stripe's form encoding (``card[number]=4242``, ``expand[0]=x``) into nested data.

Stripe's API takes ``application/x-www-form-urlencoded`` bodies (and query strings) whose
keys nest with brackets: ``a[b]=c`` is a dict, ``a[0]=x`` or ``a[]=x`` a list.  Values
stay strings; :mod:`mocks.provider.params` converts them per endpoint.  Every malformed
input raises :class:`FormError` naming the offending key, never anything else.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from mocks.provider.errors import StripeError

MAX_PARAMS = 1000
MAX_DEPTH = 8

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

Nested = dict[str, Any]


class FormError(StripeError):
    """A body or query string that cannot be read as Stripe form data."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(400, message, code="parameter_invalid", param=param)


def parse_body(raw: bytes) -> Nested:
    """Decode a form-encoded body into nested dicts and lists of strings."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError("The request body is not valid UTF-8.") from None
    return parse_text(text)


def parse_text(text: str) -> Nested:
    """Decode an already-decoded query string or body."""
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=None
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(f"The request body could not be decoded: {exc}.") from None
    if len(pairs) > MAX_PARAMS:
        raise FormError(f"Too many parameters: at most {MAX_PARAMS} are accepted.")
    return parse_pairs(pairs)


def parse_pairs(pairs: list[tuple[str, str]]) -> Nested:
    """Build nested data from ``(key, value)`` pairs; later scalars win, as in Rack."""
    root: Nested = {}
    for key, value in pairs:
        path = split_key(key)
        _insert(root, path, value, key)
    return _listify(root)


def split_key(key: str) -> list[str]:
    """Split ``a[b][0]`` into ``["a", "b", "0"]``; ``[]`` becomes an empty segment."""
    match = _KEY.match(key)
    if match is None:
        raise FormError(f"Invalid parameter name: {key!r}.", param=key or None)
    path = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if len(path) > MAX_DEPTH:
        raise FormError(f"Parameter {key!r} is nested more than {MAX_DEPTH} levels.", key)
    return path


def _insert(node: Nested, path: list[str], value: str, key: str) -> None:
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        name = _name(path[: depth + 1])
        if segment == "":
            # "a[]=x": append, stored under the next free integer index
            segment = str(sum(1 for k in node if _is_index(k)))
        if last:
            if isinstance(node.get(segment), dict):
                raise FormError(f"Parameter {name} is given both as a value and a hash.", name)
            node[segment] = value
            return
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise FormError(f"Parameter {name} is given both as a value and a hash.", name)
        node = child


def _is_index(key: str) -> bool:
    return key.isascii() and key.isdigit()


def _name(path: list[str]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _listify(node: Nested) -> Nested:
    """Turn dicts whose keys are all integer indexes into lists, recursively."""
    out: Nested = {}
    for key, value in node.items():
        out[key] = _listify_value(value)
    return out


def _listify_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value and all(_is_index(k) for k in value):
        return [_listify_value(value[k]) for k in sorted(value, key=int)]
    return _listify(value)
