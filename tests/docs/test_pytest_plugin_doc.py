"""docs/pytest-plugin.md runs: every Python block is a test module, run as written in a
session of its own that reuses this session's sandbox (``SANDBOX_REUSE``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sandbox.pytest_plugin as plugin
from sandbox.control.state import SupervisorClient
from sandbox.scenario import Flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest-plugin.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
FIXTURES = sorted(name for name in plugin.__all__ if name.startswith("sandbox_"))
FLOW_API = sorted(name for name in vars(Flow) if not name.startswith("_"))


def test_every_fixture_and_every_public_method_of_flow_has_an_example() -> None:
    code = "\n".join(BLOCKS)
    used = set(re.findall(r"def test_\w+\(([^)]*)\)", code, re.S))
    parameters = {p.strip() for group in used for p in group.split(",")}
    shown = parameters | set(re.findall(r"^def (sandbox_\w+)\(", code, re.M))  # overridden
    assert not [f for f in FIXTURES if f not in shown], "fixtures without an example"
    missing = [name for name in FLOW_API if not re.search(rf"\.{name}\b", code)]
    assert not missing, f"Flow methods without an example: {missing}"


# the dead-letter example puts an event off its contract on this session's sandbox too
@pytest.mark.contract_violations_expected
def test_every_example_passes(
    pytester: pytest.Pytester, sandbox_stack: SupervisorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_REUSE", str(sandbox_stack.state_file.state_dir))
    for number, block in enumerate(BLOCKS):
        pytester.makepyfile(**{f"test_doc_{number:02d}": block})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    tests = sum(len(re.findall(r"^def test_", block, re.M)) for block in BLOCKS)
    result.assert_outcomes(passed=tests)
