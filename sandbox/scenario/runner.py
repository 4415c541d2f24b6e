"""Find scenarios, run them against a sandbox, and write their reports.

A scenario is a Python file in ``scenarios/`` with a module docstring (its first line is
the description) and a ``run(flow)`` function; its name is the file name with dashes.
``sandbox scenario run`` uses the running sandbox, or starts one for the run and stops it
afterwards.
"""

from __future__ import annotations

import importlib.util
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from sandbox.bundled import bundled_dir
from sandbox.scenario.flow import Flow
from sandbox.scenario.report import ScenarioResult, render_html, render_junit


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    run: Callable[[Flow], None]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scenarios.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load scenario {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover(directory: Path | None = None) -> dict[str, Scenario]:
    """The scenarios in ``directory`` (default: the sandbox's own catalog) by name."""
    found: dict[str, Scenario] = {}
    folder = directory if directory is not None else bundled_dir("scenarios")
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _load(path)
        run = getattr(module, "run", None)
        if not callable(run):
            continue
        doc = (module.__doc__ or "").strip().splitlines()
        name = path.stem.replace("_", "-")
        found[name] = Scenario(name, doc[0] if doc else name, path, run)
    return found


def run_one(state_dir: Path, scenario: Scenario) -> ScenarioResult:
    flow = Flow.attach(state_dir, scenario.name)
    began = time.time()
    error = None
    with flow:
        try:
            scenario.run(flow)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}"
            flow.timeline.note(f"scenario stopped: {type(exc).__name__}", ok=False)
    return ScenarioResult(
        name=scenario.name,
        description=scenario.description,
        passed=error is None,
        duration_s=time.time() - began,
        correlation_id=flow.correlation_id,
        started=flow.timeline.started,
        entries=flow.timeline.entries(),
        error=error,
    )


def write_reports(
    results: Sequence[ScenarioResult], *, junit: Path | None, report: Path | None
) -> None:
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(render_junit(results))
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_html(results))
