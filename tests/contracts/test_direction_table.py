"""Every cell of contracts/README.md's table (change x direction) is what the diff does.

Each row's rule is produced by a small schema change, compared by the real diff and
judged in each direction; the cell states the verdict.  A row without a sample, or a
sample that produces another rule, fails too, so the table and the code cannot drift.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.contracts.asyncapi_diff import QUEUED
from sandbox.contracts.changes import Direction, event, request, response, severity
from sandbox.contracts.schema_diff import compare
from tests.contracts.helpers import REPO_CONTRACTS

COLUMNS: dict[str, Direction] = {
    "request": request(),
    "response": response(),
    "event, produced and consumed": event(("producer", QUEUED), ("consumer",)),
    "event nobody consumes": event(("producer",), ()),
}

OBJ = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
CLOSED = {**OBJ, "additionalProperties": False}


def props(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**base, "properties": fields}


def text(**keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords}


A, B, C = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
ANY_OF = {"anyOf": [A, B]}
WHOLE_ANY_OF = text(anyOf=[{"minLength": 2}, {"pattern": "^x"}])

# rule (with "open"/"closed" for removals) -> (base schema, head schema)
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "optional-field-added": (OBJ, props(OBJ, **OBJ["properties"], c=C)),
    "required-field-added": (OBJ, {**props(OBJ, **OBJ["properties"], c=C), "required": ["c"]}),
    "field-removed open": (OBJ, props(OBJ, a=A)),
    "field-renamed open": (OBJ, props(OBJ, a=A, c=B)),
    "field-removed closed": (CLOSED, props(CLOSED, a=A)),
    "field-renamed closed": (CLOSED, props(CLOSED, a=A, c=B)),
    "field-made-required": (OBJ, {**OBJ, "required": ["a"]}),
    "field-made-optional": ({**OBJ, "required": ["a"]}, OBJ),
    "type-narrowed": ({"type": ["string", "integer"]}, A),
    "type-widened": (A, {"type": ["string", "integer"]}),
    "type-changed": (A, B),
    "enum-added": (A, text(enum=["x"])),
    "enum-value-removed": (text(enum=["x", "y"]), text(enum=["x"])),
    "enum-removed": (text(enum=["x"]), A),
    "enum-value-added": (text(enum=["x"]), text(enum=["x", "y"])),
    "format-added": (A, text(format="date")),
    "format-removed": (text(format="date"), A),
    "format-changed": (text(format="date"), text(format="date-time")),
    "pattern-added": (A, text(pattern="^x$")),
    "pattern-tightened": (text(pattern="^[A-Z]{3}$"), text(pattern="^(USD|EUR)$")),
    "pattern-removed": (text(pattern="^x$"), A),
    "pattern-relaxed": (text(pattern="^[A-Z]{3}$"), text(pattern="^[A-Z]{3,4}$")),
    "pattern-changed": (text(pattern="^[A-Z]+$"), text(pattern="^[a-z]+$")),
    "pattern-undecided": (text(pattern="^[A-Z]+$"), text(pattern="^(?!X)[A-Z]+$")),
    "pattern-rewritten": (text(pattern="^[A-Z]{3}$"), text(pattern="^[A-Z][A-Z][A-Z]$")),
    "constraint-tightened": (text(maxLength=10), text(maxLength=5)),
    "constraint-relaxed": (text(maxLength=5), text(maxLength=10)),
    "constraint-changed": (
        {"type": "integer", "multipleOf": 2},
        {"type": "integer", "multipleOf": 3},
    ),
    "additional-properties-closed": (OBJ, CLOSED),
    "additional-properties-restricted": (OBJ, {**OBJ, "additionalProperties": B}),
    "additional-properties-opened": (CLOSED, OBJ),
    "alternative-added": (ANY_OF, {"anyOf": [A, B, C]}),
    "alternative-removed": (ANY_OF, {"anyOf": [A]}),
    "condition-added": (A, WHOLE_ANY_OF),
    "condition-removed": (WHOLE_ANY_OF, A),
    "composition-changed": ({"not": {"const": "x"}}, {"not": {"const": "y"}}),
    "annotation-changed": (A, text(description="A name.")),
    "schema-version-changed": ({**A, "x-schema-version": "1"}, {**A, "x-schema-version": "2"}),
}


def table_rows() -> list[tuple[list[str], dict[str, str]]]:
    """(sample keys, column -> verdict) for each row of the README's direction table."""
    readme = (REPO_CONTRACTS / "README.md").read_text()
    lines = [line for line in readme.splitlines() if line.startswith("| `")]
    header = next(line for line in readme.splitlines() if line.startswith("| change (rule)"))
    columns = [c.strip() for c in header.strip("|").split("|")[1:]]
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(columns) + 1:
            continue  # another table
        rules = re.findall(r"`([a-z-]+)`", re.sub(r"\([^)]*\)", "", cells[0]))
        if "allowed" in cells[0] or "refused" in cells[0]:
            variant = " closed" if "refused" in cells[0] else " open"
            rules = [rule + variant for rule in rules]
        rows.append((rules, dict(zip(columns, cells[1:], strict=True))))
    return rows


ROWS = table_rows()
CELLS = [
    pytest.param(rule, column, verdict, id=f"{rule}-{column}")
    for rules, verdicts in ROWS
    for rule in rules
    for column, verdict in verdicts.items()
]


def test_the_table_has_the_four_directions_and_a_row_for_every_sample() -> None:
    assert all(set(verdicts) == set(COLUMNS) for _, verdicts in ROWS)
    assert sorted(rule for rules, _ in ROWS for rule in rules) == sorted(SAMPLES)


@pytest.mark.parametrize(("rule", "column", "verdict"), CELLS)
def test_table_cell_is_the_verdict_of_the_diff(rule: str, column: str, verdict: str) -> None:
    base, head = SAMPLES[rule]
    findings = compare(base, head)
    assert {f.rule for f in findings} == {rule.split()[0]}
    assert {severity(f, COLUMNS[column]) for f in findings} == {verdict}
