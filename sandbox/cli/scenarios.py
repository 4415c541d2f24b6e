"""``sandbox scenario list`` and ``scenario run``: the catalog, by name or by file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sandbox.settings import SandboxSettings

if TYPE_CHECKING:
    from sandbox.scenario.runner import Catalog


def _catalog(args: argparse.Namespace) -> Catalog:
    from sandbox.scenario.runner import load_catalog

    return load_catalog(Path(args.dir) if args.dir else None)


def cmd_scenario_list(args: argparse.Namespace, settings: SandboxSettings) -> int:
    catalog = _catalog(args)
    for name, scenario in catalog.scenarios.items():
        print(f"{name:<32} {scenario.description}")
    for broken in catalog.broken.values():
        print(f"{broken.name:<32} BROKEN: {broken.error} ({broken.path})", file=sys.stderr)
    return EXIT_FAILED if catalog.broken else EXIT_OK


def cmd_scenario_run(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control import lifecycle
    from sandbox.control.ownership import supervisor_running
    from sandbox.control.state import StateFile
    from sandbox.scenario.report import ScenarioResult
    from sandbox.scenario.runner import BrokenScenario, run_one, write_reports

    catalog = _catalog(args)
    refs = [*catalog.scenarios, *catalog.broken] if args.all else args.names
    found = {ref: catalog.find(ref) for ref in refs}
    unknown = [ref for ref, scenario in found.items() if scenario is None]
    if not refs or unknown:
        print(
            f"unknown or no scenario: {unknown or '(none given)'}; give a name from "
            f"`sandbox scenario list` ({', '.join(catalog.scenarios)}) or a scenario file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    chosen = [s for s in found.values() if s is not None]
    runnable = [s for s in chosen if not isinstance(s, BrokenScenario)]
    state = StateFile(settings.state_dir).read()
    started_here = bool(runnable) and not (state and supervisor_running(state))
    if started_here:
        booted = lifecycle.up(settings.state_dir, random_ports=args.random_ports)
        if booted != EXIT_OK:
            return booted  # 3 when no broker could be had, else 1
    results = []
    try:
        for scenario in chosen:
            if isinstance(scenario, BrokenScenario):
                result = ScenarioResult(
                    name=scenario.name,
                    description=f"cannot be loaded from {scenario.path}",
                    passed=False,
                    duration_s=0.0,
                    correlation_id="",
                    started=time.time(),
                    entries=[],
                    error=scenario.error,
                )
            else:
                result = run_one(settings.state_dir, scenario)
            results.append(result)
            verdict = "passed" if result.passed else "FAILED"
            print(f"{verdict:<7} {scenario.name:<32} {result.duration_s:6.2f} s", flush=True)
            if result.error:
                print("        " + result.error.splitlines()[0])
    finally:
        if started_here:
            lifecycle.down(settings.state_dir)
    write_reports(
        results,
        junit=Path(args.junit) if args.junit else None,
        report=Path(args.report) if args.report else None,
    )
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK
