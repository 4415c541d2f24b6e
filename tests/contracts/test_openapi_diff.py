"""``diff_contracts`` on OpenAPI documents: request changes judged for clients that send,
response changes for clients that read."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.contracts import diff_contracts

BASE_DOC = yaml.safe_load(
    """
openapi: 3.1.0
info: {title: Payments, version: "1"}
paths:
  /payments:
    get:
      parameters:
        - {name: page, in: query, schema: {type: integer, minimum: 1}}
      responses:
        "200":
          description: a page
          content:
            application/json:
              schema:
                type: object
                required: [items]
                properties:
                  items: {type: array, items: {$ref: '#/components/schemas/Payment'}}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [amount, booking_id]
              properties:
                amount: {type: number, minimum: 0}
                booking_id: {type: string}
                note: {type: string}
                method: {type: string, enum: [card, paypal]}
      responses:
        "201":
          description: created
          content: {application/json: {schema: {$ref: '#/components/schemas/Payment'}}}
        "400": {description: bad request}
  /payments/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get:
      responses:
        "200":
          description: one payment
          content: {application/json: {schema: {$ref: '#/components/schemas/Payment'}}}
        "404": {description: not found}
components:
  schemas:
    Payment:
      type: object
      required: [id, status, amount]
      properties:
        id: {type: string}
        status: {type: string, enum: [pending, succeeded]}
        amount: {type: number}
        receipt_url: {type: string}
"""
)

DOC = "api.openapi.yaml"
PAYMENT_READS = (
    f"{DOC} GET /payments response 200 $.items[*]",
    f"{DOC} POST /payments response 201 $",
    f"{DOC} GET /payments/{{id}} response 200 $",
)
B, C = "breaking", "compatible"


def post_body(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"]["/payments"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def payment(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["Payment"]
    return schema


def read_paths(field: str) -> set[str]:
    return {
        f"{DOC} GET /payments response 200 $.items[*].{field}",
        f"{DOC} POST /payments response 201 $.{field}",
        f"{DOC} GET /payments/{{id}} response 200 $.{field}",
    }


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Any]], object]
    expected: set[tuple[str, str, str]]


def reads(severity: str, rule: str, field: str) -> set[tuple[str, str, str]]:
    return {(severity, rule, loc) for loc in read_paths(field)}


def rename_path_parameter(doc: dict[str, Any]) -> None:
    item = doc["paths"].pop("/payments/{id}")
    item["parameters"][0]["name"] = "payment_id"
    doc["paths"]["/payments/{payment_id}"] = item


CASES = [
    Case("no-change", lambda d: None, set()),
    Case(
        "path-removed",
        lambda d: d["paths"].pop("/payments/{id}"),
        {(B, "path-removed", f"{DOC} /payments/{{id}}")},
    ),
    Case(
        "path-added",
        lambda d: d["paths"].update(
            {"/refunds": {"get": {"responses": {"200": {"description": "ok"}}}}}
        ),
        {(C, "path-added", f"{DOC} /refunds")},
    ),
    Case(
        "operation-removed",
        lambda d: d["paths"]["/payments"].pop("post"),
        {(B, "operation-removed", f"{DOC} POST /payments")},
    ),
    Case(
        "required-query-parameter-added",
        lambda d: d["paths"]["/payments"]["get"]["parameters"].append(
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        {(B, "required-parameter-added", f"{DOC} GET /payments query.tenant")},
    ),
    Case(
        "optional-query-parameter-added",
        lambda d: d["paths"]["/payments"]["get"]["parameters"].append(
            {"name": "limit", "in": "query", "schema": {"type": "integer"}}
        ),
        {(C, "optional-parameter-added", f"{DOC} GET /payments query.limit")},
    ),
    Case(
        "parameter-limit-raised",
        lambda d: d["paths"]["/payments"]["get"]["parameters"][0]["schema"].update(minimum=2),
        {(B, "constraint-tightened", f"{DOC} GET /payments query.page $")},
    ),
    Case(
        "request-field-made-required",
        lambda d: post_body(d)["required"].append("note"),
        {(B, "field-made-required", f"{DOC} POST /payments request $.note")},
    ),
    Case(
        "request-required-field-added",
        lambda d: (
            post_body(d)["properties"].update(currency={"type": "string"}),
            post_body(d)["required"].append("currency"),
        ),
        {(B, "required-field-added", f"{DOC} POST /payments request $.currency")},
    ),
    Case(
        "request-field-type-changed",
        lambda d: post_body(d)["properties"]["amount"].update(type="string"),
        {(B, "type-changed", f"{DOC} POST /payments request $.amount")},
    ),
    Case(
        "request-field-made-optional",
        lambda d: post_body(d)["required"].remove("booking_id"),
        {(C, "field-made-optional", f"{DOC} POST /payments request $.booking_id")},
    ),
    Case(
        "request-enum-value-removed",
        lambda d: post_body(d)["properties"]["method"]["enum"].remove("paypal"),
        {(B, "enum-value-removed", f"{DOC} POST /payments request $.method")},
    ),
    Case(
        "request-field-removed-from-open-schema",
        lambda d: post_body(d)["properties"].pop("note"),
        {(C, "field-removed", f"{DOC} POST /payments request $.note")},
    ),
    Case(
        "request-type-widened",
        lambda d: post_body(d)["properties"]["booking_id"].update(type=["string", "integer"]),
        {(C, "type-widened", f"{DOC} POST /payments request $.booking_id")},
    ),
    Case(
        "response-field-removed",
        lambda d: payment(d)["properties"].pop("receipt_url"),
        reads(B, "field-removed", "receipt_url"),
    ),
    Case(
        "response-optional-field-added",
        lambda d: payment(d)["properties"].update(currency={"type": "string"}),
        reads(C, "optional-field-added", "currency"),
    ),
    Case(
        "response-field-made-optional",
        lambda d: payment(d)["required"].remove("status"),
        reads(B, "field-made-optional", "status"),
    ),
    Case(
        "response-enum-value-added",
        lambda d: payment(d)["properties"]["status"]["enum"].append("refunded"),
        reads(C, "enum-value-added", "status"),
    ),
    Case(
        "response-type-widened",
        lambda d: payment(d)["properties"]["amount"].update(type=["number", "string"]),
        reads(B, "type-widened", "amount"),
    ),
    Case(
        "response-status-removed",
        lambda d: d["paths"]["/payments/{id}"]["get"]["responses"].pop("404"),
        {(B, "response-status-removed", f"{DOC} GET /payments/{{id}} response 404")},
    ),
    Case(
        "response-status-added",
        lambda d: d["paths"]["/payments/{id}"]["get"]["responses"].update(
            {"410": {"description": "gone"}}
        ),
        {(C, "response-status-added", f"{DOC} GET /payments/{{id}} response 410")},
    ),
    Case("path-parameter-renamed", rename_path_parameter, set()),
    Case(
        "description-edited",
        lambda d: payment(d)["properties"]["id"].update(description="Transaction id"),
        reads(C, "annotation-changed", "id"),
    ),
]


def write_tree(root: Path, document: dict[str, Any]) -> Path:
    (root / "http").mkdir(parents=True)
    (root / "http" / DOC).write_text(yaml.safe_dump(document, sort_keys=False))
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_change_is_classified_exactly(case: Case, tmp_path: Path) -> None:
    head = copy.deepcopy(BASE_DOC)
    case.mutate(head)
    report = diff_contracts(
        write_tree(tmp_path / "base", BASE_DOC), write_tree(tmp_path / "head", head)
    )
    found = [(c.severity, c.rule, c.location) for c in report.changes]
    assert len(found) == len(set(found)), found
    assert set(found) == case.expected


def test_removed_api_document_is_breaking(tmp_path: Path) -> None:
    base = write_tree(tmp_path / "base", BASE_DOC)
    (tmp_path / "head").mkdir()
    [change] = diff_contracts(base, tmp_path / "head").changes
    assert (change.severity, change.rule, change.location) == (B, "api-removed", DOC)


def test_new_api_document_is_compatible(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    head = write_tree(tmp_path / "head", BASE_DOC)
    [change] = diff_contracts(tmp_path / "base", head).changes
    assert (change.severity, change.rule) == (C, "api-added")
