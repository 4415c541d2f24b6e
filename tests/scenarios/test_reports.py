"""A failing scenario's reports show where the flow stopped and what was expected."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from sandbox.scenario.report import COLOURS, render_html, render_junit
from sandbox.scenario.runner import discover, run_one

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAILING = '''"""Deliberately failing: waits for a cancellation that never comes."""

from sandbox.scenario.steps import book_and_pay


def run(flow):
    book_and_pay(flow)
    flow.expect("appointment.cancelled", within=1)
'''


def test_failing_scenario_report_shows_where_the_flow_stopped(sandbox_stack, tmp_path):
    (tmp_path / "never_cancelled.py").write_text(FAILING)
    scenario = discover(tmp_path)["never-cancelled"]

    result = run_one(sandbox_stack.state_file.state_dir, scenario)

    assert not result.passed
    assert "appointment.cancelled" in (result.error or "")
    labels = [e.label for e in result.entries]
    # the flow got as far as the confirmation, and the unmet expectation comes after it
    confirmed = next(i for i, label in enumerate(labels) if "appointment.confirmed" in label)
    missing = next(
        i
        for i, e in enumerate(result.entries)
        if not e.ok and "expected 1 x appointment.cancelled within 1 s" in e.label
    )
    assert confirmed < missing

    page = render_html([result])
    assert "FAILED" in page
    assert "expected 1 x appointment.cancelled within 1 s" in page
    assert COLOURS["failure"] in page.split("<svg", 1)[1], "no failure drawn in the diagram"

    suite = ET.fromstring(render_junit([result])).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "appointment.cancelled" in (failure.text or "")
