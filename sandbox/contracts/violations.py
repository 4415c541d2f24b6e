"""The one shape in which every contract refusal is reported.

A consumer dead-letters a message with these, the tap records them, the CLI prints
them: a stable ``code`` to branch on, a ``message`` a person can act on, and a ``path``
saying where (``$.error.code`` in the body, ``properties.message_id`` in the envelope).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

UNKNOWN_ROUTING_KEY = "unknown_routing_key"
INVALID_JSON = "invalid_json"
SCHEMA_VIOLATION = "schema_violation"
MISSING_PROPERTY = "missing_property"
TYPE_MISMATCH = "type_mismatch"
WRONG_PRODUCER = "wrong_producer"
SCHEMA_VERSION_MISMATCH = "schema_version_mismatch"

CODES = (
    UNKNOWN_ROUTING_KEY,
    INVALID_JSON,
    SCHEMA_VIOLATION,
    MISSING_PROPERTY,
    TYPE_MISMATCH,
    WRONG_PRODUCER,
    SCHEMA_VERSION_MISMATCH,
)

BODY_ROOT = "$"
ENVELOPE_ROOT = "properties"

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Violation:
    """One way in which a message breaks its contract."""

    code: str
    message: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}

    def __str__(self) -> str:
        return f"{self.code} at {self.path}: {self.message}"


def json_path(root: str, parts: Iterable[str | int]) -> str:
    """``root`` followed by ``parts`` in JSON-path notation: ``$.error.code``, ``$.items[0]``."""
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            path += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            path += f"['{escaped}']"
    return path
