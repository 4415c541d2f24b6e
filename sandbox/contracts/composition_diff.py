"""``anyOf``, ``oneOf`` and ``allOf`` compared branch by branch.

Branches are paired first by equal meaning (annotations aside), then by shape (same
types, title and discriminating ``enum`` values), and a last unpaired branch on each
side is paired with the other.  A pair is compared keyword by keyword like any schema,
so an optional field added inside one ``anyOf`` branch is an optional field added, not
a changed composition.  What is left over is a branch added or removed:

- ``anyOf``/``oneOf`` (alternatives): a new branch accepts more (``alternative-added``
  loosens), a removed one less (``alternative-removed`` tightens);
- ``allOf`` (conditions, what the normaliser could not merge into the parent): a new
  branch accepts less (``condition-added`` tightens), a removed one more.

``if``/``then``/``else`` with the same ``if`` compare ``then`` and ``else`` like any schema
(a tighter ``then`` tightens); a changed ``if`` is ``composition-changed``.

``oneOf`` wants exactly one branch to match, so a branch that accepts more can make a
document match two and be refused: unless the new branches are provably exclusive
(different types, or different values of a required discriminator), a loosening inside
a ``oneOf`` is reported as ``composition-changed`` (both ways).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.contracts.changes import BOTH, LOOSEN, TIGHTEN, Finding
from sandbox.contracts.schema_normal import normal, strip, type_set

Recurse = Callable[[dict[str, Any], dict[str, Any], list[str | int], list[Finding]], None]

_ALTERNATIVES = ("anyOf", "oneOf")


def compare_compositions(
    base: dict[str, Any],
    head: dict[str, Any],
    at: list[str | int],
    path: str,
    out: list[Finding],
    recurse: Recurse,
) -> None:
    """Findings for the compositions and conditionals of ``base`` and ``head``."""
    conditional, branches = _conditionals(base, head, path)
    out.extend(conditional)
    for b, h in branches:
        recurse(b, h, at, out)
    for key in (*_ALTERNATIVES, "allOf"):
        if key not in base and key not in head:
            continue
        old, new = _branches(base, key), _branches(head, key)
        if strip(old) == strip(new):
            continue
        if key in _ALTERNATIVES and (key not in base or key not in head):
            out.append(_whole(key, path, added=key in head))
            continue
        found: list[Finding] = []
        pairs, removed, added = _pair(old, new)
        for b, h in pairs:
            recurse(b, h, at, found)
        found.extend(_leftovers(key, path, removed, added))
        if key == "oneOf" and not _exclusive(new) and _loosens(found):
            out.append(
                Finding(
                    path,
                    "composition",
                    "composition-changed",
                    BOTH,
                    "a oneOf branch accepts more and the branches are not provably "
                    "exclusive: a document may now match two and be refused",
                )
            )
        else:
            out.extend(found)


def _conditionals(
    base: dict[str, Any], head: dict[str, Any], path: str
) -> tuple[list[Finding], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(findings, ``then``/``else`` pairs to compare) for the conditionals."""
    if all(strip(base.get(k)) == strip(head.get(k)) for k in ("if", "then", "else")):
        return [], []
    if strip(base.get("if")) != strip(head.get("if")):
        message = "if changed; compatibility cannot be proven"
        return [Finding(path, "composition", "composition-changed", BOTH, message)], []
    return [], [
        (normal(base.get(key, {})), normal(head.get(key, {})))
        for key in ("then", "else")
        if key in base or key in head
    ]


def _whole(key: str, path: str, added: bool) -> Finding:
    """A whole ``anyOf``/``oneOf`` added or removed: one condition more or less."""
    if added:
        return Finding(path, "composition", "condition-added", TIGHTEN, f"{key} added")
    return Finding(path, "composition", "condition-removed", LOOSEN, f"{key} removed")


def _branches(schema: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = schema.get(key, [])
    return [normal(b) for b in value] if isinstance(value, list) else [normal(value)]


def _leftovers(
    key: str, path: str, removed: list[dict[str, Any]], added: list[dict[str, Any]]
) -> list[Finding]:
    alternative = key in _ALTERNATIVES
    noun = "alternative" if alternative else "condition"
    found = [
        Finding(
            path,
            "composition",
            f"{noun}-removed",
            TIGHTEN if alternative else LOOSEN,
            f"{key} branch {_label(b)} removed",
        )
        for b in removed
    ]
    found.extend(
        Finding(
            path,
            "composition",
            f"{noun}-added",
            LOOSEN if alternative else TIGHTEN,
            f"{key} branch {_label(b)} added",
        )
        for b in added
    )
    return found


def _label(branch: Mapping[str, Any]) -> str:
    if "title" in branch:
        return repr(branch["title"])
    text = json.dumps(strip(branch), sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _pair(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(paired branches that differ, old branches left over, new branches left over)."""
    old_left, new_left = list(old), list(new)
    for b in list(old_left):  # the same meaning: nothing to compare
        twin = next((h for h in new_left if strip(h) == strip(b)), None)
        if twin is not None:
            old_left.remove(b)
            new_left.remove(twin)
    pairs = []
    for b in list(old_left):
        same_shape = [h for h in new_left if _shape(h) == _shape(b)]
        rivals = [o for o in old_left if _shape(o) == _shape(b)]
        if len(same_shape) == 1 and len(rivals) == 1:
            pairs.append((b, same_shape[0]))
            old_left.remove(b)
            new_left.remove(same_shape[0])
    if len(old_left) == 1 and len(new_left) == 1:
        pairs.append((old_left.pop(), new_left.pop()))
    return pairs, old_left, new_left


def _shape(schema: Mapping[str, Any]) -> str:
    return json.dumps(
        [sorted(type_set(schema)), schema.get("title"), _discriminators(schema)], sort_keys=True
    )


def _discriminators(schema: Mapping[str, Any]) -> dict[str, list[str]]:
    """Required properties limited to a list of values, with those values."""
    props = schema.get("properties") or {}
    return {
        name: sorted(json.dumps(v) for v in normal(props[name])["enum"])
        for name in schema.get("required") or []
        if name in props and "enum" in normal(props[name])
    }


def _disjoint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    ta, tb = type_set(a), type_set(b)
    if ta and tb:
        widen = {"integer": {"integer", "number"}, "number": {"integer", "number"}}
        if not {w for t in ta for w in widen.get(t, {t})} & tb:
            return True
    da, db = _discriminators(a), _discriminators(b)
    return any(name in db and not set(da[name]) & set(db[name]) for name in da)


def _exclusive(branches: list[dict[str, Any]]) -> bool:
    return all(_disjoint(a, b) for i, a in enumerate(branches) for b in branches[i + 1 :])


def _loosens(findings: list[Finding]) -> bool:
    return any(f.effect in (LOOSEN, BOTH) for f in findings)
