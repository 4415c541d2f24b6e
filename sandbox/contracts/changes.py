"""What ``contracts diff`` reports: classified changes, and the rule that classifies them.

A schema change *tightens* (fewer documents are valid), *loosens* (more are valid),
does *both* (e.g. a type replaced), or is *neutral* (descriptions, examples).  Whether
that breaks anyone depends on who writes the documents and who reads them (the side):

- ``event``: a producer writes, other services read, and messages already in queues
  and DLQs were written under the old contract.  Tightening breaks (old producers and
  in-flight messages become invalid); loosening is compatible, and where readers must
  cope with something new (a new enum value, a field that may now be absent) the
  message says so.  Removing or renaming a field always breaks its readers.
- ``request``: clients write, the changed service reads.  Tightening breaks clients;
  loosening is compatible; removing a field only breaks when unknown fields are refused.
- ``response``: the changed service writes, clients read.  Tightening is compatible;
  loosening breaks clients, except an added optional field or enum value, which
  tolerant readers ignore; removing a field or making it optional breaks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BREAKING = "breaking"
COMPATIBLE = "compatible"

TIGHTEN = "tighten"
LOOSEN = "loosen"
BOTH = "both"
NEUTRAL = "neutral"

EVENT = "event"
REQUEST = "request"
RESPONSE = "response"

# Loosenings that a tolerant reader absorbs: ignoring unknown fields and values.
TOLERATED_BY_READERS = frozenset({"optional-field-added", "enum-value-added"})
REMOVALS = frozenset({"field-removed", "field-renamed"})


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
    """A schema difference before the side decides its severity."""

    path: str
    kind: str
    rule: str
    effect: str
    message: str


def severity(finding: Finding, side: str) -> str:
    """Breaking or compatible, for a finding on ``side`` (see the module docstring)."""
    if finding.effect == NEUTRAL:
        return COMPATIBLE
    if finding.effect == BOTH:
        return BREAKING
    if finding.rule in REMOVALS and side in (EVENT, RESPONSE):
        return BREAKING
    if side in (EVENT, REQUEST):
        return BREAKING if finding.effect == TIGHTEN else COMPATIBLE
    if finding.effect == TIGHTEN:
        return COMPATIBLE
    return COMPATIBLE if finding.rule in TOLERATED_BY_READERS else BREAKING


def change(location: str, kind: str, rule: str, verdict: str, message: str) -> Change:
    return Change(location, kind, verdict, rule, message)


def classify(findings: list[Finding], side: str, prefix: str) -> list[Change]:
    """Turn schema findings into changes located under ``prefix``."""
    changes = []
    for f in findings:
        verdict = severity(f, side)
        message = f.message
        if verdict == COMPATIBLE and f.effect == LOOSEN and side != REQUEST:
            message += _READER_NOTES.get(f.rule, "")
        changes.append(Change(f"{prefix} {f.path}", f.kind, verdict, f.rule, message))
    return changes


_READER_NOTES = {
    "enum-value-added": "; consumers must tolerate the new value",
    "field-made-optional": "; readers must cope with its absence",
    "type-widened": "; readers must accept the new type",
}
