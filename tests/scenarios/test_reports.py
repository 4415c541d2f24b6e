"""A failing scenario's reports show where the flow stopped and what was expected, the
whole flow (provider calls, signed webhooks, consumer deliveries, merchant callbacks) in
causal order, and an index of the failures.

The HTML report is also opened in a real headless browser (Debian's chromium, which
``scripts/test`` installs when it is missing) and the screenshot is checked for the
diagram and the highlighted failure.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from sandbox.scenario.report import COLOURS, ScenarioResult, render_html, render_junit
from sandbox.scenario.runner import discover, run_one

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAILING = '''"""Deliberately failing: waits for a cancellation that never comes."""

from sandbox.scenario.steps import book_and_pay


def run(flow):
    book_and_pay(flow)
    flow.expect("appointment.cancelled", within=1)
'''


@pytest.fixture(scope="module")
def failed(sandbox_stack, tmp_path_factory) -> ScenarioResult:
    folder = tmp_path_factory.mktemp("failing-scenario")
    (folder / "never_cancelled.py").write_text(FAILING)
    scenario = discover(folder)["never-cancelled"]
    return run_one(sandbox_stack.state_file.state_dir, scenario)


def arrows(result: ScenarioResult, kind: str, source: str, target: str) -> list[str]:
    return [
        e.label for e in result.entries if (e.kind, e.source, e.target) == (kind, source, target)
    ]


def test_the_diagram_draws_provider_calls_webhooks_consumer_deliveries_and_callbacks(failed):
    calls = arrows(failed, "provider", "payment", "provider")
    webhooks = arrows(failed, "webhook", "provider", "payment")
    callbacks = arrows(failed, "callback", "notifier", "merchant")

    assert any(label.startswith("POST /v1/payment_intents") for label in calls), calls
    assert any("payment_intent.succeeded" in w and "signature verified" in w for w in webhooks), (
        webhooks
    )
    assert callbacks and all("signature valid" in c for c in callbacks), callbacks
    assert arrows(failed, "delivery", "broker", "appointment"), "no delivery to the appointment"
    assert arrows(failed, "delivery", "broker", "notifier"), "no delivery to the notifier"
    assert failed.description == "Deliberately failing: waits for a cancellation that never comes."


def test_each_effect_is_drawn_after_its_cause(failed):
    seen: set[str] = set()
    for entry in failed.entries:
        cause = entry.detail.get("cause")
        if cause and any(
            e.detail.get("key") == cause or e.detail.get("message_id") == cause
            for e in failed.entries
        ):
            assert cause in seen, f"{entry.label} drawn before its cause {cause}"
        seen.update(str(v) for k, v in entry.detail.items() if k in ("key", "message_id") and v)


def test_failing_scenario_report_shows_where_the_flow_stopped(failed):
    result = failed

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
    index = page.split('<nav class="index">', 1)[1].split("</nav>", 1)[0]
    assert "never-cancelled" in index and "WaitTimeout" in index, index
    assert "expected 1 x appointment.cancelled within 1 s" in page
    assert COLOURS["failure"] in page.split("<svg", 1)[1], "no failure drawn in the diagram"

    suite = ET.fromstring(render_junit([result])).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "appointment.cancelled" in (failure.text or "")


# -- the report in a real browser -------------------------------------------------------

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
    # no network beyond loopback here: keep chromium from trying to phone home
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed (scripts/test installs Debian's chromium)")
    return found


def screenshot(page: Path, png: Path, profile: Path, size: str = "1400,1600") -> None:
    command = [
        browser(),
        *BROWSER_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={size}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert png.exists(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr}"


def pixels_near(image, colour: str, tolerance: int = 24) -> int:  # type: ignore[no-untyped-def]
    """How many pixels of ``image`` are within ``tolerance`` of ``colour`` (#rrggbb)."""
    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(
        count
        for count, rgb in image.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))
    )


def test_failing_report_renders_in_headless_chromium_with_the_failure_highlighted(failed, tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(render_html([failed]))
    png = tmp_path / "report.png"

    screenshot(page, png, tmp_path / "chromium-profile")

    image = Image.open(png).convert("RGB")
    assert image.size == (1400, 1600), image.size
    colours = image.getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, "the page rendered blank or as plain text"
    # the failed section's border, badge and the failure mark in the diagram
    assert pixels_near(image, COLOURS["failure"]) > 500, "no failure highlight on screen"
    # events and HTTP calls drawn by the browser as SVG arrows
    assert pixels_near(image, COLOURS["event"]) > 200, "no event arrows on screen"
    assert pixels_near(image, COLOURS["http"]) > 200, "no HTTP arrows on screen"
    for kind in ("provider", "webhook", "delivery", "callback"):
        assert pixels_near(image, COLOURS[kind], tolerance=12) > 100, f"no {kind} arrows on screen"
