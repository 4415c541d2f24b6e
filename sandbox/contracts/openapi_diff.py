"""Compare two versions of one OpenAPI document: paths, operations, parameters, bodies,
response headers and security.

Request bodies and parameters are judged in the ``request`` direction (clients write
them, the service reads them), response bodies and headers in the ``response``
direction (the service writes them, clients read them); see
:mod:`sandbox.contracts.changes`.  Paths are matched with their parameter names
blanked, so renaming ``{id}`` to ``{transaction_id}`` is not a removed path; header
names are matched without regard to case, as HTTP does.  Security is compared in
:mod:`sandbox.contracts.openapi_security`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.contracts.changes import (
    BREAKING,
    COMPATIBLE,
    REQUEST,
    Change,
    Direction,
    change,
    classify,
    request,
    response,
)
from sandbox.contracts.openapi_security import diff_operation_security, diff_schemes, requirements
from sandbox.contracts.schema_diff import compare

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"\{[^}]*\}")


def diff_openapi(name: str, base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Changes from ``base`` to ``head`` (both with their ``$ref``s inlined)."""
    changes: list[Change] = []
    old_paths, new_paths = _paths(base), _paths(head)
    for key, (route, _) in old_paths.items():
        if key not in new_paths:
            changes.append(
                change(f"{name} {route}", "path", "path-removed", BREAKING, f"path {route} removed")
            )
    for key, (route, _) in new_paths.items():
        if key not in old_paths:
            changes.append(
                change(f"{name} {route}", "path", "path-added", COMPATIBLE, f"path {route} added")
            )
    for key in old_paths.keys() & new_paths.keys():
        (route, old_item), (_, new_item) = old_paths[key], new_paths[key]
        changes.extend(_diff_path(name, route, (base, old_item), (head, new_item)))
    changes.extend(diff_schemes(name, base, head))
    return changes


def _paths(document: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    paths = document.get("paths") or {}
    return {_PARAM.sub("{}", route): (route, item or {}) for route, item in paths.items()}


Located = tuple[Mapping[str, Any], Mapping[str, Any]]  # (document, path item)


def _diff_path(name: str, route: str, old_at: Located, new_at: Located) -> list[Change]:
    (old_doc, old), (new_doc, new) = old_at, new_at
    changes = []
    for method in HTTP_METHODS:
        where = f"{name} {method.upper()} {route}"
        if method in old and method not in new:
            changes.append(
                change(
                    where,
                    "operation",
                    "operation-removed",
                    BREAKING,
                    f"operation {method.upper()} {route} removed",
                )
            )
        elif method in new and method not in old:
            changes.append(
                change(
                    where,
                    "operation",
                    "operation-added",
                    COMPATIBLE,
                    f"operation {method.upper()} {route} added",
                )
            )
        elif method in old:
            changes.extend(_parameters(where, old, new, old[method], new[method]))
            changes.extend(_request_body(where, old[method], new[method]))
            changes.extend(_responses(where, old[method], new[method]))
            changes.extend(
                diff_operation_security(
                    where,
                    requirements(old_doc, old[method]),
                    requirements(new_doc, new[method]),
                )
            )
    return changes


def _params_of(
    item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[tuple[str, str], Mapping[str, Any]]:
    merged = {}
    for p in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        where, name = str(p.get("in", "")), str(p.get("name", ""))
        merged[(where, name.lower() if where == "header" else name)] = p
    return merged


def _parameters(
    where: str,
    old_item: Mapping[str, Any],
    new_item: Mapping[str, Any],
    old_op: Mapping[str, Any],
    new_op: Mapping[str, Any],
) -> list[Change]:
    changes = []
    old, new = _params_of(old_item, old_op), _params_of(new_item, new_op)
    for key in sorted(old.keys() | new.keys()):
        shown = (new.get(key) or old[key]).get("name", key[1])
        label = f"{key[0]} parameter {shown!r}"
        loc = f"{where} {key[0]}.{shown}"
        if key[0] == "path" and (key not in old or key not in new):
            continue  # path parameters are matched with the path, by position
        if key in old and key not in new:
            message = f"{label} removed; clients that still send it are ignored"
            changes.append(change(loc, "parameter", "parameter-removed", COMPATIBLE, message))
            continue
        required = bool(new[key].get("required"))
        if key not in old:
            rule, verdict, why = (
                ("required-parameter-added", BREAKING, " and required; breaks clients")
                if required
                else ("optional-parameter-added", COMPATIBLE, "")
            )
            changes.append(change(loc, "parameter", rule, verdict, f"{label} added{why}"))
            continue
        if required and not old[key].get("required"):
            changes.append(
                change(
                    loc,
                    "parameter",
                    "parameter-made-required",
                    BREAKING,
                    f"{label} is now required; breaks clients that omit it",
                )
            )
        if old[key].get("required") and not required:
            changes.append(
                change(
                    loc,
                    "parameter",
                    "parameter-made-optional",
                    COMPATIBLE,
                    f"{label} is no longer required",
                )
            )
        findings = compare(old[key].get("schema", {}), new[key].get("schema", {}))
        changes.extend(classify(findings, request(), loc))
    return changes


def _request_body(where: str, old_op: Mapping[str, Any], new_op: Mapping[str, Any]) -> list[Change]:
    old, new = old_op.get("requestBody"), new_op.get("requestBody")
    loc = f"{where} request"
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        rule, verdict = (
            ("required-request-body-added", BREAKING)
            if new.get("required")
            else ("optional-request-body-added", COMPATIBLE)
        )
        return [change(loc, "request", rule, verdict, "request body added")]
    if new is None:
        return [
            change(
                loc,
                "request",
                "request-body-removed",
                COMPATIBLE,
                "request body removed; clients that still send one are ignored",
            )
        ]
    changes = []
    if new.get("required") and not old.get("required"):
        changes.append(
            change(
                loc,
                "request",
                "request-body-made-required",
                BREAKING,
                "request body is now required",
            )
        )
    changes.extend(_content(loc, old.get("content") or {}, new.get("content") or {}, request()))
    return changes


def _responses(where: str, old_op: Mapping[str, Any], new_op: Mapping[str, Any]) -> list[Change]:
    old, new = old_op.get("responses") or {}, new_op.get("responses") or {}
    changes = []
    for status in sorted(set(old) | set(new), key=str):
        loc = f"{where} response {status}"
        if status not in new:
            changes.append(
                change(
                    loc,
                    "response",
                    "response-status-removed",
                    BREAKING,
                    f"response {status} removed",
                )
            )
        elif status not in old:
            changes.append(
                change(
                    loc,
                    "response",
                    "response-status-added",
                    COMPATIBLE,
                    f"response {status} added; clients must handle it",
                )
            )
        else:
            changes.extend(
                _content(
                    loc,
                    old[status].get("content") or {},
                    new[status].get("content") or {},
                    response(),
                )
            )
            changes.extend(_response_headers(loc, old[status], new[status]))
    return changes


def _headers(response_object: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    headers = response_object.get("headers") or {}
    return {str(k).lower(): (str(k), v) for k, v in headers.items() if isinstance(v, Mapping)}


def _response_headers(
    loc: str, old_response: Mapping[str, Any], new_response: Mapping[str, Any]
) -> list[Change]:
    """Headers clients read: one gone or no longer promised breaks them."""
    old, new = _headers(old_response), _headers(new_response)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        shown, header = new.get(key) or old[key]
        where = f"{loc} header {shown}"
        if key not in new:
            rule, verdict, message = "response-header-removed", BREAKING, "removed"
        elif key not in old:
            rule, verdict, message = "response-header-added", COMPATIBLE, "added"
        elif old[key][1].get("required") and not header.get("required"):
            rule, verdict, message = (
                "response-header-made-optional",
                BREAKING,
                "no longer sent always",
            )
        else:
            findings = compare(old[key][1].get("schema", {}), header.get("schema", {}))
            changes.extend(classify(findings, response(), where))
            continue
        if verdict == BREAKING:
            message += "; breaks clients that read it"
        changes.append(change(where, "response", rule, verdict, f"header {shown} {message}"))
    return changes


def _content(
    loc: str, old: Mapping[str, Any], new: Mapping[str, Any], direction: Direction
) -> list[Change]:
    changes = []
    side = direction.side
    kind = "request" if side == REQUEST else "response"
    for media in sorted(set(old) | set(new)):
        if media not in new:
            changes.append(
                change(
                    f"{loc} {media}",
                    kind,
                    f"{kind}-media-type-removed",
                    BREAKING,
                    f"{media} no longer {'accepted' if side == REQUEST else 'returned'}",
                )
            )
        elif media not in old:
            changes.append(
                change(
                    f"{loc} {media}", kind, f"{kind}-media-type-added", COMPATIBLE, f"{media} added"
                )
            )
        else:
            findings = compare(old[media].get("schema", {}), new[media].get("schema", {}))
            changes.extend(classify(findings, direction, loc))
    return changes
