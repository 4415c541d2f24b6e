"""What ``contracts diff`` reports: classified changes, and the rule that classifies them.

A schema change *tightens* (fewer documents are valid), *loosens* (more are valid),
does *both* (e.g. a type replaced), is *neutral* (descriptions, examples), or is
*undecided* (a ``pattern`` whose inclusion cannot be worked out).  Whether that breaks
anyone depends on the :class:`Direction`: who writes the documents and who reads them,
counting only the parties that do not ship with the contract change.

- Tightening breaks the writers: what they send may now be refused (for events, also
  the messages already waiting in queues and DLQs).
- Loosening breaks the readers: they may get what they were not written for.  Tolerant
  readers ignore unknown fields and values, so an added optional field, an added enum
  value and ``additionalProperties`` opened break nobody.
- Removing or renaming a field breaks its readers whatever it does to the set of
  valid documents, and its writers too when unknown fields are refused.

Directions come from the contracts: an event is written by the services with a
``send`` operation and read by those with a ``receive`` operation in ``asyncapi.yaml``
(both sides, so judged from both); an HTTP request body or parameter is written by
clients and read by the service that owns the API (clients only); a response is written
by that service and read by clients (clients only).  ``contracts/README.md`` has the
table, and ``tests/contracts/test_direction_table.py`` checks it against this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BREAKING = "breaking"
UNDECIDED = "undecided"
COMPATIBLE = "compatible"
SEVERITY_ORDER = {BREAKING: 0, UNDECIDED: 1, COMPATIBLE: 2}

TIGHTEN = "tighten"
LOOSEN = "loosen"
BOTH = "both"
NEUTRAL = "neutral"
UNKNOWN = "unknown"  # the effect could not be decided

EVENT = "event"
REQUEST = "request"
RESPONSE = "response"

# Loosenings that a tolerant reader absorbs: ignoring unknown fields and values.
TOLERATED_BY_READERS = frozenset(
    {"optional-field-added", "enum-value-added", "additional-properties-opened"}
)
REMOVALS = frozenset({"field-removed", "field-renamed"})


@dataclass(frozen=True)
class Direction:
    """Who writes the documents of one schema and who reads them.

    Only parties that do not change together with the contract are listed: a service
    implements its own API, so it is neither the reader of its requests nor the writer
    of its responses as far as breaking goes.
    """

    side: str
    writers: tuple[str, ...]  # broken when the schema tightens
    readers: tuple[str, ...]  # broken when it loosens beyond what they tolerate


def request(clients: str = "clients") -> Direction:
    return Direction(REQUEST, (clients,), ())


def response(clients: str = "clients") -> Direction:
    return Direction(RESPONSE, (), (clients,))


def event(producers: tuple[str, ...], consumers: tuple[str, ...]) -> Direction:
    return Direction(EVENT, producers, consumers)


@dataclass(frozen=True)
class Change:
    """One difference between two contract trees, with its verdict."""

    location: str
    kind: str
    severity: str
    rule: str
    message: str

    @property
    def breaking(self) -> bool:
        return self.severity == BREAKING

    @property
    def undecided(self) -> bool:
        return self.severity == UNDECIDED

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "severity": self.severity,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True)
class Finding:
    """A schema difference before the direction decides its severity."""

    path: str
    kind: str
    rule: str
    effect: str
    message: str


def broken_parties(finding: Finding, direction: Direction) -> tuple[str, ...]:
    """The writers and readers ``finding`` breaks, in that order (empty: compatible)."""
    if finding.effect in (NEUTRAL, UNKNOWN):
        return ()
    writers = finding.effect in (TIGHTEN, BOTH)
    readers = finding.effect in (LOOSEN, BOTH) and finding.rule not in TOLERATED_BY_READERS
    if finding.rule in REMOVALS:
        readers = True
    broken = (direction.writers if writers else ()) + (direction.readers if readers else ())
    return tuple(dict.fromkeys(broken))  # a service may be both: name it once


def severity(finding: Finding, direction: Direction) -> str:
    """Breaking, undecided or compatible (see the module docstring)."""
    if finding.effect == UNKNOWN:
        exposed = direction.writers or direction.readers
        return UNDECIDED if exposed else COMPATIBLE
    return BREAKING if broken_parties(finding, direction) else COMPATIBLE


def change(location: str, kind: str, rule: str, verdict: str, message: str) -> Change:
    return Change(location, kind, verdict, rule, message)


def classify(findings: list[Finding], direction: Direction, prefix: str) -> list[Change]:
    """Turn schema findings into changes located under ``prefix``; a breaking change
    names whom it breaks, a compatible loosening what readers must cope with."""
    changes = []
    for f in findings:
        verdict = severity(f, direction)
        message = f.message
        broken = broken_parties(f, direction)
        if broken:
            message += f"; breaks {', '.join(broken)}"
        elif verdict == COMPATIBLE and f.effect == LOOSEN and direction.readers:
            message += _READER_NOTES.get(f.rule, "")
        changes.append(Change(f"{prefix} {f.path}", f.kind, verdict, f.rule, message))
    return changes


_READER_NOTES = {
    "enum-value-added": "; readers must tolerate the new value",
    "optional-field-added": "; readers ignore it until they need it",
}
