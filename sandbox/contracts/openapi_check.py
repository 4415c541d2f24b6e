"""Validation of the services' OpenAPI documents (``contracts/http/*.openapi.yaml``).

``openapi-spec-validator`` does the real work (OpenAPI 3.0/3.1 meta-schemas plus its
semantic rules: path parameters declared, operation ids unique, ...).  Our own pass
adds what it reports by raising instead of listing: every ``$ref`` must resolve.  When
the package is missing, only that and a minimal structural check run, and the result
says so instead of passing in silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.contracts import files, refs
from sandbox.contracts.files import ContractLoadError

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def openapi_problems(path: Path) -> list[str]:
    """Problems of one OpenAPI document; empty when it is valid."""
    try:
        document = files.load_document(path)
    except ContractLoadError as exc:
        return [str(exc)]
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        return ["not an OpenAPI 3 document (no 'openapi: 3.x' key)"]
    base_uri = path.resolve().as_uri()
    problems = refs.unresolvable_refs(document, base_uri, refs.file_registry())
    if problems:
        return problems  # the validator would stop at the first one with a traceback
    return _spec_validator_problems(document, base_uri)


def spec_validator_available() -> bool:
    try:
        import openapi_spec_validator  # noqa: F401
    except ImportError:
        return False
    return True


def _spec_validator_problems(document: dict[str, Any], base_uri: str) -> list[str]:
    if not spec_validator_available():
        return _structural_problems(document)
    from jsonschema_path import SchemaPath
    from openapi_spec_validator.shortcuts import get_validator_cls

    validator = get_validator_cls(document)(SchemaPath.from_dict(document, base_uri=base_uri))
    try:
        return [_describe(error) for error in validator.iter_errors()]
    except Exception as exc:  # the validator raises on some malformed documents
        return [f"openapi-spec-validator stopped: {type(exc).__name__}: {exc}"]


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in getattr(error, "path", ()) or ())
    message = getattr(error, "message", str(error))
    return f"{message} (at {where})" if where else str(message)


def _structural_problems(document: dict[str, Any]) -> list[str]:
    problems = []
    info = document.get("info")
    if not (isinstance(info, dict) and "title" in info and "version" in info):
        problems.append("info.title and info.version are required")
    paths = document.get("paths", {})
    if not isinstance(paths, dict):
        return [*problems, "paths must be an object"]
    for route, item in paths.items():
        if not str(route).startswith("/"):
            problems.append(f"path {route!r} must start with '/'")
        for method in HTTP_METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            if isinstance(operation, dict) and "responses" not in operation:
                problems.append(f"{method.upper()} {route}: responses are required")
    return problems
