"""Helpers for the contract tests: where the real contracts are, and how to edit copies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def edit_json(path: Path, change: Callable[[Any], object]) -> None:
    """Load ``path``, let ``change`` mutate it in place (its result is ignored), save it."""
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def edit_yaml(path: Path, change: Callable[[Any], object]) -> None:
    document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    change(document)
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False))


def load_example(routing_key: str, kind: str, name: str) -> Any:
    path = REPO_CONTRACTS / "events" / "examples" / routing_key / kind / name
    return json.loads(path.read_text())
