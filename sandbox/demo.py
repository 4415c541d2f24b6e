"""``sandbox demo``: boot the whole sandbox, run the happy path, show the flow, shut down.

The flow is the happy-path scenario: an appointment is booked, paid by card through the
mock provider, confirmed by the appointment service from the ``payment.completed``
event, and the notifier emails the customer.  The timeline printed at the end is what
the event tap, the HTTP clients and the mock inbox saw, in order; the same flow is drawn
as a sequence diagram in the HTML report.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.control import lifecycle
from sandbox.scenario.report import render_html
from sandbox.scenario.runner import discover, run_one
from sandbox.settings import SandboxSettings


def run_demo(settings: SandboxSettings, keep: bool = False, random_ports: bool = False) -> int:
    state_dir = settings.state_dir / "demo"
    report = settings.state_dir / "reports" / "demo.html"
    print("== booting the sandbox (broker, mocks, services)")
    booted = lifecycle.up(state_dir, random_ports=random_ports)
    if booted != 0:
        return booted  # 3 when no broker could be had, else 1
    try:
        scenario = discover()["happy-path"]
        print(f"\n== running: {scenario.description}")
        result = run_one(state_dir, scenario)
        print(f"\n== the flow (correlation id {result.correlation_id})\n")
        for entry in result.entries:
            mark = " " if entry.ok else "!"
            lanes = f"{entry.source:>11} -> {entry.target:<11}"
            print(f"{mark}{entry.at - result.started:7.3f}s  {lanes} {entry.label}")
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_html([result], title="sandbox demo: happy path"))
        verdict = "passed" if result.passed else "FAILED"
        print(f"\n== happy path {verdict} in {result.duration_s:.2f} s")
        if result.error:
            print(result.error, file=sys.stderr)
        print(f"== sequence diagram: {Path(report).resolve()}")
    finally:
        if keep:
            print(
                f"\n== sandbox left running (state in {state_dir}); stop it with "
                f"SANDBOX_STATE_DIR={state_dir} sandbox down"
            )
        else:
            print("\n== shutting down")
            lifecycle.down(state_dir)
    return 0 if result.passed else 1
