"""Find scenarios, run them against a sandbox, and write their reports.

A scenario is a Python file in ``scenarios/`` with a module docstring (its first
paragraph is the description) and a ``run(flow)`` function; its name is the file name with dashes.
A file that cannot be loaded is a ``BrokenScenario``: named, never fatal to the catalog.
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


@dataclass(frozen=True)
class BrokenScenario:
    """A scenario file that cannot be loaded: a syntax error, a failing import, no
    ``run(flow)``.  It fails as a scenario of its own; the rest of the catalog runs."""

    name: str
    path: Path
    error: str


@dataclass(frozen=True)
class Catalog:
    """The scenarios of a folder by name, and the files of it that cannot be loaded."""

    scenarios: dict[str, Scenario]
    broken: dict[str, BrokenScenario]

    def find(self, ref: str) -> Scenario | BrokenScenario | None:
        """A scenario by dashed name (happy-path), file name (happy_path, happy_path.py)
        or path to its file, inside the catalog or not."""
        path = Path(ref)
        if ref.endswith(".py") and path.is_file():
            loaded = load_file(path)
            found = self.scenarios.get(loaded.name)
            return found if found is not None and found.path == loaded.path else loaded
        name = path.name.removesuffix(".py").replace("_", "-")
        return self.scenarios.get(name) or self.broken.get(name)


def scenario_name(path: Path) -> str:
    return path.stem.replace("_", "-")


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scenarios.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load scenario {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_file(path: Path) -> Scenario | BrokenScenario:
    """The scenario in ``path``, or why it cannot be loaded (never an exception)."""
    name = scenario_name(path)
    try:
        module = _load(path)
    except Exception as exc:  # whatever a scenario file raises while it is imported
        return BrokenScenario(name, path.resolve(), _describe(exc, path))
    run = getattr(module, "run", None)
    if not callable(run):
        return BrokenScenario(name, path.resolve(), "no run(flow) function")
    return Scenario(name, description(module.__doc__) or name, path.resolve(), run)


def description(doc: str | None) -> str:
    """The first paragraph of a docstring, whole, on one line."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def _describe(exc: Exception, path: Path) -> str:
    """One line: the error and where in the scenario file it is."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load_catalog(directory: Path | None = None) -> Catalog:
    """Every scenario file of ``directory`` (default: the sandbox's own catalog); one
    that cannot be loaded is reported as broken, by name, and the others still load."""
    folder = directory if directory is not None else bundled_dir("scenarios")
    scenarios: dict[str, Scenario] = {}
    broken: dict[str, BrokenScenario] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        loaded = load_file(path)
        if isinstance(loaded, BrokenScenario):
            broken[loaded.name] = loaded
        else:
            scenarios[loaded.name] = loaded
    return Catalog(scenarios, broken)


def discover(directory: Path | None = None) -> dict[str, Scenario]:
    """The scenarios in ``directory`` (default: the sandbox's own catalog) that load, by
    name; ``load_catalog`` also names the files that do not."""
    return load_catalog(directory).scenarios


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
