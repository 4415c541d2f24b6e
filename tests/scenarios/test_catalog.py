"""Every scenario of the catalog runs as a test against one whole sandbox."""

from __future__ import annotations

import pytest

from sandbox.scenario.runner import discover

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOG = discover()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_scenario(name, flow):
    CATALOG[name].run(flow)
    violations = flow.tap.violations()
    assert not violations, [f"{r.event_key} {r.message_id}: {r.violations}" for r in violations]
