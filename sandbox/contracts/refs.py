"""``$ref`` handling shared by the registry, the check and the diff.

Three jobs: find every ``$ref`` in a document, tell which of them do not resolve, and
inline them into one self-contained schema (for the diff, which compares meaning rather
than file layout, and for generators such as hypothesis-jsonschema).  Resolution goes
through ``referencing`` with a retriever that reads ``file:`` URIs from disk, so the
same code serves event schemas (``$id`` based), AsyncAPI and OpenAPI documents
(relative file references).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from sandbox.contracts.files import ContractLoadError, load_document

# Keywords whose values are data, not subschemas: never look for $ref inside them.
_DATA_KEYWORDS = frozenset({"const", "enum", "examples", "example", "default"})
_DROPPED_WHEN_INLINED = frozenset({"$id", "$schema", "$defs", "definitions"})


def _retrieve_file(uri: str) -> Resource[Any]:
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
    try:
        contents = load_document(Path(unquote(parts.path)))
    except ContractLoadError as exc:
        raise NoSuchResource(ref=uri) from exc  # type: ignore[call-arg]
    return Resource.from_contents(contents, default_specification=DRAFT202012)


def file_registry(resources: Mapping[str, Any] | None = None) -> Registry[Any]:
    """A registry holding ``resources`` (uri -> contents) that also reads file: URIs."""
    registry: Registry[Any] = Registry(retrieve=_retrieve_file)  # type: ignore[call-arg]
    pairs = [
        (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
        for uri, contents in (resources or {}).items()
    ]
    return registry.with_resources(pairs)


def iter_refs(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer of the object holding it, ref) for every ``$ref`` in ``node``."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield pointer or "/", ref
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                continue
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from iter_refs(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_refs(item, f"{pointer}/{index}")


def unresolvable_refs(document: Any, base_uri: str, registry: Registry[Any]) -> list[str]:
    """One line per ``$ref`` in ``document`` that does not resolve."""
    registry = registry.with_resource(
        base_uri, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    resolver = registry.resolver(base_uri=base_uri)
    problems = []
    for pointer, ref in iter_refs(document):
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            problems.append(f"$ref {ref!r} at {pointer} does not resolve ({type(exc).__name__})")
    return problems


def inline_refs(document: Any, base_uri: str, registry: Registry[Any]) -> Any:
    """``document`` with every ``$ref`` replaced by its target (cycles are left as refs)."""
    registry = registry.with_resource(
        base_uri, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return _inline(document, registry.resolver(base_uri=base_uri), (), top=True)


def _inline(node: Any, resolver: Any, expanding: tuple[int, ...], top: bool = False) -> Any:
    if isinstance(node, list):
        return [_inline(item, resolver, expanding) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    siblings = {
        key: value if key in _DATA_KEYWORDS else _inline(value, resolver, expanding)
        for key, value in node.items()
        if key != "$ref" and (top or key not in _DROPPED_WHEN_INLINED)
    }
    if top:
        siblings.pop("$defs", None)
    if not isinstance(ref, str):
        return siblings
    resolved = resolver.lookup(ref)
    if id(resolved.contents) in expanding:  # a recursive schema: keep the reference
        return {"$ref": ref, **siblings}
    target = _inline(resolved.contents, resolved.resolver, (*expanding, id(resolved.contents)))
    if not siblings:
        return target
    if isinstance(target, Mapping) and not set(siblings) & set(target) - {"description", "title"}:
        return {**target, **siblings}
    return {"allOf": [target], **siblings}
