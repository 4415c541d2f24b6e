"""``contracts diff``: what changed between two contract trees, and does it break anyone?

Event schemas are compared with their ``$ref``s inlined, so a change in
``common.schema.json`` shows up under every event that uses it.  The AsyncAPI documents
are compared as catalogs (routing keys, producers, queues, bindings, consumers), the
OpenAPI documents path by path.  The rules are in :mod:`sandbox.contracts.changes`
and ``contracts/README.md``.  To compare with a git ref, export the ref's ``contracts/``
with :func:`export_git_ref` and diff the two directories.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import KeysView, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.contracts import files, refs
from sandbox.contracts.asyncapi import EventCatalog, read_catalog
from sandbox.contracts.changes import (
    BREAKING,
    COMPATIBLE,
    EVENT,
    Change,
    change,
    classify,
)
from sandbox.contracts.openapi_diff import diff_openapi
from sandbox.contracts.schema_diff import compare

__all__ = ["Change", "DiffError", "DiffReport", "diff_contracts", "export_git_ref"]


class DiffError(Exception):
    """The trees cannot be compared (unreadable files, unknown git ref)."""


@dataclass(frozen=True)
class DiffReport:
    base: str
    head: str
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    def breaking_changes(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "breaking": self.breaking,
            "counts": {
                BREAKING: len(self.breaking_changes()),
                COMPATIBLE: len(self.changes) - len(self.breaking_changes()),
            },
            "changes": [c.to_dict() for c in self.changes],
        }

    def render_table(self) -> str:
        """An aligned table, breaking changes first, and a one-line verdict."""
        if not self.changes:
            return f"no contract changes between {self.base} and {self.head}"
        header = ("SEVERITY", "RULE", "LOCATION", "CHANGE")
        rows = [(c.severity, c.rule, c.location, c.message) for c in self.changes]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
        count = len(self.breaking_changes())
        verdict = "BREAKING" if count else "compatible"
        lines.append(
            f"{verdict}: {count} breaking, {len(self.changes) - count} compatible change(s)"
        )
        return "\n".join(lines)


def diff_contracts(base_dir: str | Path, head_dir: str | Path) -> DiffReport:
    """Every change from the contracts in ``base_dir`` to those in ``head_dir``."""
    base, head = Path(base_dir), Path(head_dir)
    try:
        changes = [
            *_diff_events(base, head),
            *_diff_asyncapi(base, head),
            *_diff_http(base, head),
        ]
    except files.ContractLoadError as exc:
        raise DiffError(str(exc)) from exc
    order = {BREAKING: 0, COMPATIBLE: 1}
    changes.sort(key=lambda c: (order[c.severity], c.location, c.rule))
    return DiffReport(str(base), str(head), tuple(changes))


# -- events --------------------------------------------------------------------------


def _bundled_schemas(contracts_dir: Path) -> dict[str, Any]:
    """Schema file name -> schema with its refs inlined, for every schema in events/."""
    loaded = {p.name: files.load_json(p) for p in files.all_schema_paths(contracts_dir)}
    registry = refs.file_registry({s["$id"]: s for s in loaded.values() if "$id" in s})
    return {
        name: refs.inline_refs(schema, schema.get("$id", name), registry)
        for name, schema in loaded.items()
    }


def _diff_events(base: Path, head: Path) -> list[Change]:
    old, new = _bundled_schemas(base), _bundled_schemas(head)
    changes = []
    for name in sorted(old.keys() | new.keys()):
        routing_key = name.removesuffix(files.SCHEMA_SUFFIX)
        if name == files.COMMON_SCHEMA:
            continue  # its effects are reported under each event that uses it
        if name not in new:
            changes.append(
                change(
                    routing_key, "event", "event-removed", BREAKING, f"event schema {name} removed"
                )
            )
        elif name not in old:
            changes.append(
                change(
                    routing_key, "event", "event-added", COMPATIBLE, f"event schema {name} added"
                )
            )
        else:
            changes.extend(classify(compare(old[name], new[name]), EVENT, routing_key))
    return changes


# -- AsyncAPI ------------------------------------------------------------------------


def _catalog(contracts_dir: Path) -> tuple[Any, EventCatalog]:
    path = contracts_dir / files.ASYNCAPI_FILE
    if not path.exists():
        return {}, read_catalog({})
    document = files.load_yaml(path)
    return document, read_catalog(document)


def _diff_asyncapi(base: Path, head: Path) -> list[Change]:
    (old_doc, old), (new_doc, new) = _catalog(base), _catalog(head)
    changes = _removed_and_added("asyncapi ", "routing-key", old.routes.keys(), new.routes.keys())
    for rk in sorted(old.routes.keys() & new.routes.keys()):
        a, b = old.routes[rk], new.routes[rk]
        for attr, rule in (
            ("producers", "producer-changed"),
            ("exchange", "exchange-changed"),
            ("message_type", "message-type-changed"),
        ):
            if getattr(a, attr) != getattr(b, attr):
                changes.append(
                    change(
                        f"asyncapi {rk}",
                        "routing-key",
                        rule,
                        BREAKING,
                        f"{attr.replace('_', ' ')} {getattr(a, attr)} -> {getattr(b, attr)}",
                    )
                )
    changes.extend(_diff_queues(old, new))
    for key in ("info", "servers"):
        if (
            isinstance(old_doc, Mapping)
            and isinstance(new_doc, Mapping)
            and old_doc.get(key) != new_doc.get(key)
        ):
            changes.append(
                change(
                    f"asyncapi {key}",
                    "annotation",
                    "annotation-changed",
                    COMPATIBLE,
                    f"{key} changed",
                )
            )
    return changes


def _removed_and_added(
    prefix: str, kind: str, old: KeysView[str], new: KeysView[str]
) -> list[Change]:
    """A breaking change for every ``kind`` (routing-key, queue) that is gone, then a
    compatible one for every new one."""
    noun = kind.replace("-", " ")
    return [
        change(f"{prefix}{name}", kind, f"{kind}-removed", BREAKING, f"{noun} {name} removed")
        for name in sorted(old - new)
    ] + [
        change(f"{prefix}{name}", kind, f"{kind}-added", COMPATIBLE, f"{noun} {name} added")
        for name in sorted(new - old)
    ]


def _diff_queues(old: EventCatalog, new: EventCatalog) -> list[Change]:
    changes = _removed_and_added("asyncapi queue ", "queue", old.queues.keys(), new.queues.keys())
    for name in sorted(old.queues.keys() & new.queues.keys()):
        a, b = old.queues[name], new.queues[name]
        loc = f"asyncapi queue {name}"
        for pattern in sorted(set(a.bindings) - set(b.bindings)):
            changes.append(
                change(
                    loc,
                    "binding",
                    "binding-removed",
                    BREAKING,
                    f"binding {pattern} removed: those events no longer reach {name}",
                )
            )
        for pattern in sorted(set(b.bindings) - set(a.bindings)):
            changes.append(
                change(loc, "binding", "binding-added", COMPATIBLE, f"binding {pattern} added")
            )
        for service in sorted(a.consumers.keys() - b.consumers.keys()):
            changes.append(
                change(
                    loc,
                    "consumer",
                    "consumer-removed",
                    BREAKING,
                    f"{service} no longer consumes {name}",
                )
            )
        for service in sorted(b.consumers.keys() - a.consumers.keys()):
            changes.append(
                change(
                    loc, "consumer", "consumer-added", COMPATIBLE, f"{service} now consumes {name}"
                )
            )
        for service in sorted(a.consumers.keys() & b.consumers.keys()):
            gone = sorted(set(a.consumers[service]) - set(b.consumers[service]))
            if gone:
                changes.append(
                    change(
                        loc,
                        "consumer",
                        "consumer-message-removed",
                        BREAKING,
                        f"{service} no longer receives {', '.join(gone)}",
                    )
                )
    return changes


# -- OpenAPI -------------------------------------------------------------------------


def _openapi_documents(contracts_dir: Path) -> dict[str, Any]:
    found = {}
    for path in files.openapi_paths(contracts_dir):
        document = files.load_document(path)
        found[path.name] = refs.inline_refs(document, path.resolve().as_uri(), refs.file_registry())
    return found


def _diff_http(base: Path, head: Path) -> list[Change]:
    old, new = _openapi_documents(base), _openapi_documents(head)
    changes = []
    for name in sorted(old.keys() - new.keys()):
        changes.append(change(name, "api", "api-removed", BREAKING, f"API document {name} removed"))
    for name in sorted(new.keys() - old.keys()):
        changes.append(change(name, "api", "api-added", COMPATIBLE, f"API document {name} added"))
    for name in sorted(old.keys() & new.keys()):
        changes.extend(diff_openapi(name, old[name], new[name]))
    return changes


# -- git -----------------------------------------------------------------------------


def export_git_ref(
    repo_root: str | Path, ref: str, dest: str | Path, subdir: str = "contracts"
) -> Path:
    """Write ``subdir`` as it is at ``ref`` under ``dest``; returns ``dest/subdir``.

    Read-only for the repository (``git archive``).  A ref without ``subdir`` yields an
    empty directory, so that everything in the working tree counts as added.
    """
    root, target = Path(repo_root), Path(dest)
    verify = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if verify.returncode != 0:
        raise DiffError(f"{ref!r} is not a commit in {root}")
    archive = _git(root, "archive", "--format=tar", ref, "--", subdir)
    (target / subdir).mkdir(parents=True, exist_ok=True)
    if archive.returncode == 0:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    elif b"did not match" not in archive.stderr:
        raise DiffError(
            f"git archive {ref} {subdir} failed: {archive.stderr.decode(errors='replace')}"
        )
    return target / subdir


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
