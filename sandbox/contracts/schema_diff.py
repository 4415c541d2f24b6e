"""Compare two JSON Schemas (refs already inlined) keyword by keyword.

Each difference becomes a :class:`Finding` saying whether it tightens or loosens the
set of valid documents; :func:`sandbox.contracts.changes.severity` then decides, per
direction, whether that breaks anyone.  Schemas are first brought to one spelling
(:mod:`sandbox.contracts.schema_normal`), compositions are compared branch by branch
(:mod:`sandbox.contracts.composition_diff`) and patterns by the strings they accept
(:mod:`sandbox.contracts.patterns`).  A keyword this module does not model (``not``,
``propertyNames``, ...) that changed is reported as changing both ways.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.contracts import patterns
from sandbox.contracts.changes import BOTH, LOOSEN, NEUTRAL, TIGHTEN, UNKNOWN, Finding
from sandbox.contracts.composition_diff import compare_compositions
from sandbox.contracts.schema_normal import (
    ANNOTATIONS,
    LOWER_BOUNDS,
    UPPER_BOUNDS,
    normal,
    strip,
    type_set,
)
from sandbox.contracts.violations import json_path

HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "format",
        "pattern",
        "multipleOf",
        "uniqueItems",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "x-schema-version",
        *UPPER_BOUNDS,
        *LOWER_BOUNDS,
    }
)


def compare(base: Any, head: Any) -> list[Finding]:
    """Every difference between ``base`` and ``head``, as findings with instance paths."""
    findings: list[Finding] = []
    _compare(normal(base), normal(head), [], findings)
    return findings


def _compare(
    base: dict[str, Any], head: dict[str, Any], at: list[str | int], out: list[Finding]
) -> None:
    path = json_path("$", at) if not any(p == "*" for p in at) else _star_path(at)

    def add(kind: str, rule: str, effect: str, message: str) -> None:
        out.append(Finding(path, kind, rule, effect, message))

    if base.get("x-schema-version") != head.get("x-schema-version") and not at:
        add(
            "schema-version",
            "schema-version-changed",
            NEUTRAL,
            f"x-schema-version {base.get('x-schema-version')!r} -> "
            f"{head.get('x-schema-version')!r}",
        )
    _types(base, head, add)
    _enums(base, head, add)
    _format_and_pattern(base, head, add)
    _bounds(base, head, add)
    _object(base, head, at, out, add)
    if "items" in base or "items" in head:
        _compare(normal(base.get("items", {})), normal(head.get("items", {})), [*at, "*"], out)
    compare_compositions(base, head, at, path, out, _compare)
    _others(base, head, add)


def _star_path(at: list[str | int]) -> str:
    path = "$"
    for part in at:
        path = path + "[*]" if part == "*" else json_path(path, [part])
    return path


def _covers(types: set[str], t: str) -> bool:
    return not types or t in types or (t == "integer" and "number" in types)


def _types(base: dict[str, Any], head: dict[str, Any], add: Any) -> None:
    old, new = type_set(base), type_set(head)
    if old == new:
        return
    names = f"{'/'.join(sorted(old)) or 'any'} -> {'/'.join(sorted(new)) or 'any'}"
    if not old or not new:  # one side accepts any type
        narrowed = bool(new)
        add(
            "type",
            "type-narrowed" if narrowed else "type-widened",
            TIGHTEN if narrowed else LOOSEN,
            f"type {names}",
        )
        return
    removed = {t for t in old if not _covers(new, t)}
    added = {t for t in new if not _covers(old, t)}
    if removed and added:
        add("type", "type-changed", BOTH, f"type changed {names}")
    elif removed:
        add("type", "type-narrowed", TIGHTEN, f"type narrowed {names}")
    elif added:
        add("type", "type-widened", LOOSEN, f"type widened {names}")


def _enums(base: dict[str, Any], head: dict[str, Any], add: Any) -> None:
    if "enum" not in base and "enum" not in head:
        return
    if "enum" not in base:
        add("enum", "enum-added", TIGHTEN, f"values restricted to {head['enum']}")
        return
    if "enum" not in head:
        add("enum", "enum-removed", LOOSEN, "values no longer restricted to a list")
        return
    old = {json.dumps(v, sort_keys=True): v for v in base["enum"]}
    new = {json.dumps(v, sort_keys=True): v for v in head["enum"]}
    gone = [old[k] for k in old if k not in new]
    came = [new[k] for k in new if k not in old]
    if gone:
        add("enum", "enum-value-removed", TIGHTEN, f"value(s) {gone} no longer allowed")
    if came:
        add("enum", "enum-value-added", LOOSEN, f"value(s) {came} added")


def _format_and_pattern(base: dict[str, Any], head: dict[str, Any], add: Any) -> None:
    for key in ("format", "pattern"):
        old, new = base.get(key), head.get(key)
        if old == new:
            continue
        if old is None:
            add("constraint", f"{key}-added", TIGHTEN, f"{key} {new!r} added")
        elif new is None:
            add("constraint", f"{key}-removed", LOOSEN, f"{key} {old!r} removed")
        elif key == "pattern":
            _pattern_changed(str(old), str(new), add)
        else:
            add("constraint", "format-changed", BOTH, f"format changed {old!r} -> {new!r}")


def _pattern_changed(old: str, new: str, add: Any) -> None:
    found = patterns.relation(old, new)
    change = f"pattern {old!r} -> {new!r}"
    if found == patterns.SAME:
        add("annotation", "pattern-rewritten", NEUTRAL, f"{change} accepts the same strings")
    elif found == patterns.NARROWER:
        add("constraint", "pattern-tightened", TIGHTEN, f"{change} accepts fewer strings")
    elif found == patterns.WIDER:
        add("constraint", "pattern-relaxed", LOOSEN, f"{change} accepts more strings")
    elif found == patterns.INCOMPARABLE:
        add("constraint", "pattern-changed", BOTH, f"{change}: each accepts what the other refuses")
    else:
        add(
            "constraint",
            "pattern-undecided",
            UNKNOWN,
            f"{change}: whether one includes the other cannot be decided",
        )


def _bounds(base: dict[str, Any], head: dict[str, Any], add: Any) -> None:
    for key in (*UPPER_BOUNDS, *LOWER_BOUNDS):
        old, new = base.get(key), head.get(key)
        if old == new:
            continue
        upper = key in UPPER_BOUNDS
        if old is None or new is None:
            tighter = new is not None
        else:
            tighter = new < old if upper else new > old
        rule = "constraint-tightened" if tighter else "constraint-relaxed"
        add("constraint", rule, TIGHTEN if tighter else LOOSEN, f"{key} {old} -> {new}")
    old_m, new_m = base.get("multipleOf"), head.get("multipleOf")
    if old_m != new_m:
        if old_m is None or new_m is None:
            effect = TIGHTEN if new_m is not None else LOOSEN
        elif Decimal(str(new_m)) % Decimal(str(old_m)) == 0:
            effect = TIGHTEN
        elif Decimal(str(old_m)) % Decimal(str(new_m)) == 0:
            effect = LOOSEN
        else:
            effect = BOTH
        rule = {TIGHTEN: "constraint-tightened", LOOSEN: "constraint-relaxed"}.get(
            effect, "constraint-changed"
        )
        add("constraint", rule, effect, f"multipleOf {old_m} -> {new_m}")
    if bool(base.get("uniqueItems")) != bool(head.get("uniqueItems")):
        tighter = bool(head.get("uniqueItems"))
        add(
            "constraint",
            "constraint-tightened" if tighter else "constraint-relaxed",
            TIGHTEN if tighter else LOOSEN,
            f"uniqueItems -> {tighter}",
        )


def _closed(schema: Mapping[str, Any]) -> bool:
    return schema.get("additionalProperties") is False


def _object(
    base: dict[str, Any], head: dict[str, Any], at: list[str | int], out: list[Finding], add: Any
) -> None:
    old_props: dict[str, Any] = base.get("properties") or {}
    new_props: dict[str, Any] = head.get("properties") or {}
    old_req, new_req = set(base.get("required") or []), set(head.get("required") or [])
    removed = [n for n in old_props if n not in new_props]
    added = [n for n in new_props if n not in old_props]
    renamed = dict(_renames(removed, added, old_props, new_props))
    sub = at_path(at)

    def field(name: str, rule: str, effect: str, message: str) -> None:
        out.append(Finding(sub(name), "field", rule, effect, message))

    # Removing a field tightens only where unknown fields are refused; elsewhere it
    # loosens (anything goes under that name now).  Readers break either way.
    removal = TIGHTEN if _closed(head) else LOOSEN
    for name in removed:
        if name in renamed:
            field(name, "field-renamed", removal, f"field {name!r} renamed to {renamed[name]!r}")
        else:
            field(name, "field-removed", removal, f"field {name!r} removed")
    for name in added:
        if name in renamed.values():
            continue
        if name in new_req:
            field(name, "required-field-added", TIGHTEN, f"new required field {name!r}")
        else:
            field(name, "optional-field-added", LOOSEN, f"optional field {name!r} added")
    for name in sorted((new_req - old_req) & set(old_props)):
        field(name, "field-made-required", TIGHTEN, f"field {name!r} is now required")
    for name in sorted((old_req - new_req) & set(new_props)):
        field(name, "field-made-optional", LOOSEN, f"field {name!r} is no longer required")
    for name in old_props:
        if name in new_props:
            _compare(normal(old_props[name]), normal(new_props[name]), [*at, name], out)
    _additional(base, head, at, out, add)


def at_path(at: list[str | int]) -> Any:
    return lambda name: json_path("$", [*at, name]) if "*" not in at else _star_path([*at, name])


def _renames(
    removed: list[str], added: list[str], old: dict[str, Any], new: dict[str, Any]
) -> list[tuple[str, str]]:
    pairs, taken = [], set()
    for r in removed:
        for a in added:
            if a not in taken and strip(old[r]) == strip(new[a]):
                pairs.append((r, a))
                taken.add(a)
                break
    return pairs


def _additional(
    base: dict[str, Any], head: dict[str, Any], at: list[str | int], out: list[Finding], add: Any
) -> None:
    old, new = base.get("additionalProperties", True), head.get("additionalProperties", True)
    if strip(old) == strip(new):
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        _compare(normal(old), normal(new), [*at, "*"], out)
    elif new is False:
        add("field", "additional-properties-closed", TIGHTEN, "unknown fields are now refused")
    elif old is False or new is True:
        add("field", "additional-properties-opened", LOOSEN, "unknown fields are now allowed")
    else:
        add(
            "field",
            "additional-properties-restricted",
            TIGHTEN,
            "unknown fields must now match a schema",
        )


def _others(base: dict[str, Any], head: dict[str, Any], add: Any) -> None:
    for key in sorted(set(base) | set(head)):
        if key in HANDLED or strip(base.get(key)) == strip(head.get(key)):
            continue
        if key in ANNOTATIONS or key.startswith("x-"):
            add("annotation", "annotation-changed", NEUTRAL, f"{key} changed")
        else:
            add(
                "composition",
                "composition-changed",
                BOTH,
                f"{key} changed; compatibility cannot be proven",
            )
