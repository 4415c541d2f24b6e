"""One spelling per meaning, so that the schema diff compares meaning and not layout.

The diff sees schemas with their ``$ref``s inlined; this module then rewrites the
spellings that mean the same thing into one form:

- ``true``/``false`` become ``{}``/``{"not": {}}``, ``const`` becomes a one-value ``enum``;
- an ``allOf`` branch whose keywords do not collide with its parent's is merged into
  the parent (``{"allOf": [{"$ref": X}]}`` means X; ``required`` lists are united,
  ``properties`` merged when no name repeats and no sibling closes the object);
- a nullable ``anyOf``/``oneOf`` (``[A, {"type": "null"}]``) becomes A with ``null``
  added to its ``type`` or ``enum``, *and keeps every keyword beside it*: ``maxLength``
  next to ``anyOf: [string, null]`` still limits the string.  This is done only when A
  says nothing that would reject null on its own (its keywords all apply to one type),
  so the two spellings accept the same documents; otherwise the branches stay and are
  compared one by one (:mod:`sandbox.contracts.composition_diff`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "example",
        "$comment",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$id",
        "$schema",
        "$defs",
        "definitions",
        "$anchor",
    }
)

UPPER_BOUNDS = (
    "maxLength",
    "maximum",
    "exclusiveMaximum",
    "maxItems",
    "maxProperties",
    "x-maxDecimalPlaces",
)
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")

# Keywords that only constrain instances of one type: null passes all of them.
_TYPE_SPECIFIC = frozenset(
    {
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "x-maxDecimalPlaces",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
    }
)
# Keywords whose meaning depends on the ``properties`` listed beside them.
_SEES_PROPERTIES = frozenset({"additionalProperties", "patternProperties", "unevaluatedProperties"})


def strip(schema: Any) -> Any:
    """The schema without annotations, for equality checks."""
    if isinstance(schema, Mapping):
        return {k: strip(v) for k, v in schema.items() if k not in ANNOTATIONS}
    if isinstance(schema, list):
        return [strip(v) for v in schema]
    return schema


def normal(schema: Any) -> dict[str, Any]:
    """``schema`` in the one spelling the diff compares (see the module docstring)."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, Mapping):
        return {}
    out = dict(schema)
    if "const" in out and "enum" not in out:
        out["enum"] = [out.pop("const")]
    out = _flatten_all_of(out)
    for key in ("anyOf", "oneOf"):
        out = _collapse_nullable(out, key)
    return out


def type_set(schema: Mapping[str, Any]) -> set[str]:
    """The types ``schema`` names (empty: it does not restrict the type)."""
    value = schema.get("type")
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _keywords(schema: Mapping[str, Any]) -> set[str]:
    return {k for k in schema if k not in ANNOTATIONS}


def _merge(parent: dict[str, Any], branch: Mapping[str, Any]) -> dict[str, Any] | None:
    """One schema accepting what both ``parent`` and ``branch`` accept (their annotations:
    the parent's), or None when that cannot be written without a composition."""
    mine, theirs = _keywords(parent), _keywords(branch)
    if "allOf" in theirs:
        return None
    if ("properties" in mine and theirs & _SEES_PROPERTIES) or (
        "properties" in theirs and mine & _SEES_PROPERTIES
    ):
        return None
    merged = {**parent, **{k: branch[k] for k in theirs - mine}}
    for key in mine & theirs:
        both = _conjoin(key, parent[key], branch[key])
        if both is None:
            return None
        merged[key] = both
    return merged


def _conjoin(key: str, a: Any, b: Any) -> Any:
    """The value of ``key`` that asks for both ``a`` and ``b``; None if there is none."""
    if strip(a) == strip(b):
        return a
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if key in UPPER_BOUNDS and numbers:
        return min(a, b)
    if key in LOWER_BOUNDS and numbers:
        return max(a, b)
    if key == "required":
        return sorted({*a, *b})
    if key == "properties" and not set(a) & set(b):
        return {**a, **b}
    return None


def _flatten_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("allOf")
    if not isinstance(branches, list):
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    kept = []
    for branch in branches:
        merged = _merge(out, normal(branch))
        if merged is None:
            kept.append(branch)
        else:  # the parent's annotations win; the branch's fill in what it lacks
            out = {**{k: v for k, v in normal(branch).items() if k in ANNOTATIONS}, **merged}
    if kept:
        out["allOf"] = kept
    return out


def _is_null(schema: Any) -> bool:
    return strip(normal(schema)) in ({"type": "null"}, {"enum": [None]})


def _collapse_nullable(schema: dict[str, Any], key: str) -> dict[str, Any]:
    branches = schema.get(key)
    if not (isinstance(branches, list) and len(branches) == 2):
        return schema
    nulls = [b for b in branches if _is_null(b)]
    if len(nulls) != 1:
        return schema
    other = normal(next(b for b in branches if not _is_null(b)))
    says = _keywords(other)
    siblings = {k: v for k, v in schema.items() if k != key}
    if not (says & {"type", "enum"}) or says - _TYPE_SPECIFIC - {"type", "enum"}:
        return schema  # the branch could refuse null by itself: compare branch by branch
    nullable = dict(other)
    if "type" in other:
        nullable["type"] = sorted({*type_set(other), "null"})
    if "enum" in other and None not in other["enum"]:
        nullable["enum"] = [*other["enum"], None]
    merged = _merge(siblings, nullable)
    if merged is None:
        return schema
    return {**{k: v for k, v in nullable.items() if k in ANNOTATIONS}, **merged}
