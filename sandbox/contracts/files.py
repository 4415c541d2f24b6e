"""Where the contract files are and how they are read.

The layout of a contracts directory::

    asyncapi.yaml                         channels, operations, messages, AMQP bindings
    events/<routing-key>.schema.json      one JSON Schema 2020-12 per event body
    events/common.schema.json             shared definitions ($ref'd by the events)
    events/envelope.schema.json           the AMQP properties of every event
    events/examples/<routing-key>/valid/*.json
    events/examples/<routing-key>/invalid/*.json + expectations.yaml
    events/examples/envelope/{valid,invalid}/*.json  whole messages (routing key,
                                          properties, body) for the envelope rules
    http/*.openapi.yaml                   the services' HTTP APIs (OpenAPI 3.1)

A routing key always contains a dot, which is how event schemas are told apart from the
shared ones.  Nothing here caches: the registry and the check decide what to keep.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.bundled import BundledDataMissing, bundled_dir

CONTRACTS_DIR_ENV = "SANDBOX_CONTRACTS_DIR"
SCHEMA_SUFFIX = ".schema.json"
COMMON_SCHEMA = "common.schema.json"
ENVELOPE_SCHEMA = "envelope.schema.json"
ASYNCAPI_FILE = "asyncapi.yaml"
EXPECTATIONS_FILE = "expectations.yaml"
ENVELOPE_EXAMPLES = "envelope"
OPENAPI_GLOBS = ("*.openapi.yaml", "*.openapi.yml", "*.openapi.json")


class ContractLoadError(Exception):
    """A contract file is missing, unreadable or inconsistent with the others."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path


def bundled_contracts_dir() -> Path:
    """The contracts the sandbox's own services are built to (in the package or a clone)."""
    try:
        return bundled_dir("contracts")
    except BundledDataMissing as exc:
        raise ContractLoadError(str(exc)) from exc


def default_contracts_dir() -> Path:
    """The contracts to check: ``$SANDBOX_CONTRACTS_DIR`` when set, else the bundled ones."""
    override = os.environ.get(CONTRACTS_DIR_ENV)
    if override:
        return Path(override)
    return bundled_contracts_dir()


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractLoadError(f"cannot read: {exc.strerror}", path) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractLoadError(f"not valid JSON: {exc}", path) from exc


# libyaml's loader is ten times faster than the pure-Python one when it is available.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as exc:
        raise ContractLoadError(f"cannot read: {exc.strerror}", path) from exc
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContractLoadError(f"not valid YAML: {exc}", path) from exc


def load_document(path: Path) -> Any:
    """A JSON or YAML file, by its suffix."""
    return load_json(path) if path.suffix == ".json" else load_yaml(path)


def events_dir(contracts_dir: Path) -> Path:
    return contracts_dir / "events"


def event_schema_paths(contracts_dir: Path) -> dict[str, Path]:
    """Routing key -> schema file, for every ``events/<routing-key>.schema.json``."""
    found: dict[str, Path] = {}
    for path in sorted(events_dir(contracts_dir).glob(f"*{SCHEMA_SUFFIX}")):
        name = path.name[: -len(SCHEMA_SUFFIX)]
        if "." in name:
            found[name] = path
    return found


def all_schema_paths(contracts_dir: Path) -> list[Path]:
    """Every JSON Schema file under ``events/`` (events, common and envelope)."""
    return sorted(events_dir(contracts_dir).glob(f"*{SCHEMA_SUFFIX}"))


def openapi_paths(contracts_dir: Path) -> list[Path]:
    http = contracts_dir / "http"
    return sorted({p for pattern in OPENAPI_GLOBS for p in http.glob(pattern)})


@dataclass(frozen=True)
class Example:
    """One example file and, for invalid ones, where it is expected to fail."""

    path: Path
    valid: bool
    expected_code: str | None = None
    expected_path: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.parent.parent.name}/{self.path.parent.name}/{self.path.name}"


def examples_for(contracts_dir: Path, group: str) -> list[Example]:
    """Valid and invalid examples of one routing key (or of ``envelope``)."""
    base = events_dir(contracts_dir) / "examples" / group
    found = [Example(p, True) for p in sorted((base / "valid").glob("*.json"))]
    invalid_dir = base / "invalid"
    expectations: dict[str, Any] = {}
    if (invalid_dir / EXPECTATIONS_FILE).exists():
        loaded = load_yaml(invalid_dir / EXPECTATIONS_FILE) or {}
        if not isinstance(loaded, dict):
            raise ContractLoadError("must map file names to {code, path}", invalid_dir)
        expectations = loaded
    for path in sorted(invalid_dir.glob("*.json")):
        expected = expectations.get(path.name) or {}
        found.append(Example(path, False, expected.get("code"), expected.get("path")))
    return found


def example_groups(contracts_dir: Path) -> list[str]:
    """Names of the folders under ``events/examples``."""
    base = events_dir(contracts_dir) / "examples"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
