"""Event contracts: loaded once, cached, used by producers, consumers, the tap and tests.

Typical use::

    registry = ContractRegistry.load()              # the sandbox's contracts, cached
    violations = registry.validate_message(routing_key, properties, body_bytes)
    report = run_check(topology=topology.to_contract_view())
    diff = diff_contracts(base_dir, head_dir)

The data lives in ``contracts/`` (see ``contracts/README.md``); nothing here reads a
file at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.lazy import lazy_names

if TYPE_CHECKING:
    from sandbox.contracts.changes import BREAKING, COMPATIBLE, Change
    from sandbox.contracts.check import run_check, topology_problems
    from sandbox.contracts.check_report import CheckReport, CheckResult
    from sandbox.contracts.diff import DiffError, DiffReport, diff_contracts, export_git_ref
    from sandbox.contracts.examples import example_body, fake_body
    from sandbox.contracts.files import ContractLoadError, default_contracts_dir
    from sandbox.contracts.registry import (
        ContractRegistry,
        EventContract,
        UnknownRoutingKeyError,
    )
    from sandbox.contracts.violations import Violation

# Each name is imported from its module when first asked for: a service process that
# validates messages or request bodies loads the registry and the validators, not the
# check and the diff (about 70 ms of start-up each, in every process).
_MODULES = {
    "BREAKING": "changes",
    "COMPATIBLE": "changes",
    "Change": "changes",
    "run_check": "check",
    "topology_problems": "check",
    "CheckReport": "check_report",
    "CheckResult": "check_report",
    "DiffError": "diff",
    "DiffReport": "diff",
    "diff_contracts": "diff",
    "export_git_ref": "diff",
    "example_body": "examples",
    "fake_body": "examples",
    "ContractLoadError": "files",
    "default_contracts_dir": "files",
    "ContractRegistry": "registry",
    "EventContract": "registry",
    "UnknownRoutingKeyError": "registry",
    "Violation": "violations",
}

__getattr__ = lazy_names(__name__, _MODULES)


__all__ = [
    "BREAKING",
    "COMPATIBLE",
    "Change",
    "CheckReport",
    "CheckResult",
    "ContractLoadError",
    "ContractRegistry",
    "DiffError",
    "DiffReport",
    "EventContract",
    "UnknownRoutingKeyError",
    "Violation",
    "default_contracts_dir",
    "diff_contracts",
    "example_body",
    "export_git_ref",
    "fake_body",
    "run_check",
    "topology_problems",
]
