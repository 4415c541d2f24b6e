"""Fixtures for the contract tests: the real contracts, and throwaway copies to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.contracts import ContractRegistry
from tests.contracts.helpers import REPO_CONTRACTS


@pytest.fixture(scope="session")
def registry() -> ContractRegistry:
    return ContractRegistry.load(REPO_CONTRACTS)


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    """A private copy of the repository's contracts that a test may edit."""
    target = tmp_path / "contracts"
    shutil.copytree(REPO_CONTRACTS, target)
    return target
