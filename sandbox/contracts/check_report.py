"""Results of ``contracts check``: named checks, a text rendering and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"

_LABELS = {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP"}


@dataclass(frozen=True)
class CheckResult:
    """One named check: its status, what it found and how long it took."""

    name: str
    description: str
    status: str
    details: tuple[str, ...] = ()
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "details": list(self.details),
            "duration_s": round(self.duration_s, 4),
        }


@dataclass(frozen=True)
class CheckReport:
    contracts_dir: Path
    results: tuple[CheckResult, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def result(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in (PASSED, FAILED, SKIPPED)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "contracts_dir": str(self.contracts_dir),
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [r.to_dict() for r in self.results],
        }

    def render_text(self, verbose: bool = False) -> str:
        """One line per check; the details of failed (or, verbose, all) checks below it."""
        width = max((len(r.name) for r in self.results), default=0)
        lines = [f"contracts check: {self.contracts_dir}"]
        for result in self.results:
            first = result.details[0] if result.details else result.description
            lines.append(f"  {_LABELS[result.status]}  {result.name:<{width}}  {first}")
            if result.status == FAILED or verbose:
                lines.extend(f"        {' ' * width}  {d}" for d in result.details[1:])
        counts = self.counts()
        lines.append(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped")
        return "\n".join(lines)

    def to_junit_xml(self) -> str:
        counts = self.counts()
        total_time = f"{sum(r.duration_s for r in self.results):.3f}"
        suites = ET.Element(
            "testsuites",
            name="contracts",
            tests=str(len(self.results)),
            failures=str(counts[FAILED]),
            skipped=str(counts[SKIPPED]),
            time=total_time,
        )
        suite = ET.SubElement(
            suites,
            "testsuite",
            name="contracts check",
            tests=str(len(self.results)),
            failures=str(counts[FAILED]),
            errors="0",
            skipped=str(counts[SKIPPED]),
            time=total_time,
        )
        for result in self.results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname="contracts",
                name=result.name,
                time=f"{result.duration_s:.3f}",
            )
            text = "\n".join(result.details)
            if result.status == FAILED:
                first = result.details[0] if result.details else "failed"
                ET.SubElement(case, "failure", message=first).text = text
            elif result.status == SKIPPED:
                ET.SubElement(case, "skipped", message=text or "skipped")
            elif text:
                ET.SubElement(case, "system-out").text = text
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
