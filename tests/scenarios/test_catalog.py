"""Every scenario of the catalog runs as a test against one whole sandbox."""

from __future__ import annotations

import pytest

from sandbox.scenario.runner import discover

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOG = discover()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_scenario(name, sandbox_flow):
    CATALOG[name].run(sandbox_flow)  # the contract gate checks every message it saw
