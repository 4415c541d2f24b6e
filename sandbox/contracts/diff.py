"""``contracts diff``: what changed between two contract trees, and does it break anyone?

Event schemas are compared with their ``$ref``s inlined, so a change in
``common.schema.json`` shows up under every event that uses it, and each is judged in
the direction the AsyncAPI operations give it (its producers write, its consumers
read).  The AsyncAPI documents are compared as catalogs
(:mod:`sandbox.contracts.asyncapi_diff`), the OpenAPI documents path by path
(:mod:`sandbox.contracts.openapi_diff`).  The rules are in
:mod:`sandbox.contracts.changes` and ``contracts/README.md``.  To compare with a git
ref, export the ref's ``contracts/`` with :func:`export_git_ref` and diff the two
directories.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.contracts import files, refs
from sandbox.contracts.asyncapi_diff import (
    UNKNOWN_EVENT,
    catalog,
    diff_asyncapi,
    envelope_direction,
    event_directions,
)
from sandbox.contracts.changes import (
    BREAKING,
    COMPATIBLE,
    SEVERITY_ORDER,
    UNDECIDED,
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

    @property
    def undecided(self) -> bool:
        """Nothing is known to break, but something could not be decided."""
        return not self.breaking and any(c.undecided for c in self.changes)

    def breaking_changes(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    def counts(self) -> dict[str, int]:
        return {s: sum(c.severity == s for c in self.changes) for s in SEVERITY_ORDER}

    def verdict(self) -> str:
        """The worst severity found: breaking, undecided or compatible."""
        return min(
            (c.severity for c in self.changes), key=SEVERITY_ORDER.__getitem__, default=COMPATIBLE
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "verdict": self.verdict(),
            "breaking": self.breaking,
            "undecided": self.undecided,
            "counts": self.counts(),
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
        counts = self.counts()
        verdict = self.verdict()
        lines.append(
            f"{verdict.upper() if verdict != COMPATIBLE else verdict}: "
            f"{counts[BREAKING]} breaking, {counts[UNDECIDED]} undecided, "
            f"{counts[COMPATIBLE]} compatible change(s)"
        )
        return "\n".join(lines)


def diff_contracts(
    base_dir: str | Path, head_dir: str | Path, *, base_label: str | None = None
) -> DiffReport:
    """Every change from the contracts in ``base_dir`` to those in ``head_dir``;
    ``base_label`` names the base in the report (a git ref rather than a temporary
    directory)."""
    base, head = Path(base_dir), Path(head_dir)
    try:
        changes = [
            *_diff_events(base, head),
            *diff_asyncapi(base, head),
            *_diff_http(base, head),
        ]
    except files.ContractLoadError as exc:
        raise DiffError(str(exc)) from exc
    # One schema reached twice at the same place (a property and the same property in
    # an if/then) reports the same change twice: keep one.
    unique = sorted(
        set(changes), key=lambda c: (SEVERITY_ORDER[c.severity], c.location, c.rule, c.message)
    )
    return DiffReport(base_label or str(base), str(head), tuple(unique))


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
    directions = event_directions(catalog(base)[1], catalog(head)[1])
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
            direction = (
                envelope_direction(directions)
                if name == files.ENVELOPE_SCHEMA
                else directions.get(routing_key, UNKNOWN_EVENT)
            )
            changes.extend(classify(compare(old[name], new[name]), direction, routing_key))
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
