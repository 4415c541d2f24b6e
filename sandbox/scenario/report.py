"""Scenario reports: JUnit XML for CI and one self-contained HTML file for people.

The HTML report needs nothing but a browser (no scripts, no fonts, no network).  It
opens with an index of the failed scenarios, each linked to its section; each scenario
is a sequence diagram drawn in inline SVG, one lane per process, one arrow per HTTP
call, provider call, webhook delivery (with the signature verdict), event, consumer
delivery, retry, dead letter, email and merchant callback, in causal order
(``timeline.causal_order``), with failures in red and the unmet expectation written
where the flow stopped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from sandbox.scenario.timeline import LANES, Entry

LANE_GAP = 118
ROW = 24
TOP = 46

COLOURS = {
    "http": "#1f5fa8",
    "provider": "#5d4037",
    "webhook": "#d81b60",
    "event": "#2e7d32",
    "delivery": "#0288d1",
    "retry": "#c77c00",
    "dead-letter": "#b71c1c",
    "email": "#6a1b9a",
    "callback": "#00796b",
    "note": "#555555",
    "failure": "#b71c1c",
}


@dataclass
class ScenarioResult:
    name: str
    description: str
    passed: bool
    duration_s: float
    correlation_id: str
    started: float
    entries: list[Entry] = field(default_factory=list)
    error: str | None = None


def render_junit(results: Sequence[ScenarioResult], suite: str = "scenarios") -> str:
    failures = sum(not r.passed for r in results)
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            node, "testcase", classname=suite, name=result.name, time=f"{result.duration_s:.3f}"
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=(result.error or "failed")[:200])
            failure.text = result.error or ""
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            f"{e.at - result.started:8.3f}s {e.source}->{e.target} {e.label}"
            for e in result.entries
        )
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


# An upper bound of a character's width at font-size 11 in a sans-serif font: the SVG
# is made wide enough for its longest label, so that no label is cut at its edge.
CHAR_WIDTH = 6.6


def _label_x(entry: Entry, x: dict[str, int]) -> int:
    x1, x2 = x.get(entry.source, x["client"]), x.get(entry.target, x["client"])
    return x1 + 9 if x1 == x2 else min(x1, x2) + 6


def _svg(result: ScenarioResult) -> str:
    entries = result.entries
    height = TOP + ROW * (len(entries) + 1) + 20
    x = {lane: 40 + LANE_GAP * i + LANE_GAP // 2 for i, lane in enumerate(LANES)}
    label_ends = [_label_x(e, x) + CHAR_WIDTH * len(e.label) for e in entries]
    width = int(max([LANE_GAP * len(LANES) + 40, *label_ends]) + 20)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">'
    ]
    for lane, lx in x.items():
        parts.append(f'<text x="{lx}" y="20" text-anchor="middle" font-weight="bold">{lane}</text>')
        parts.append(
            f'<line x1="{lx}" y1="28" x2="{lx}" y2="{height - 10}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for row, entry in enumerate(entries):
        y = TOP + ROW * row
        colour = COLOURS["failure"] if not entry.ok else COLOURS.get(entry.kind, "#333")
        x1, x2 = x.get(entry.source, x["client"]), x.get(entry.target, x["client"])
        stamp = f"{entry.at - result.started:6.3f}s"
        parts.append(f'<text x="4" y="{y + 4}" fill="#777">{stamp}</text>')
        label = html.escape(entry.label)
        if x1 == x2:
            parts.append(f'<circle cx="{x1}" cy="{y}" r="5" fill="{colour}"/>')
            parts.append(
                f'<text x="{_label_x(entry, x)}" y="{y + 4}" fill="{colour}">{label}</text>'
            )
            continue
        direction = 1 if x2 > x1 else -1
        head = x2 - 7 * direction
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{head}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{3 if not entry.ok else 1.5}"/>'
        )
        parts.append(f'<polygon points="{x2},{y} {head},{y - 4} {head},{y + 4}" fill="{colour}"/>')
        parts.append(f'<text x="{_label_x(entry, x)}" y="{y - 4}" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _anchor(index: int, result: ScenarioResult) -> str:
    return f"scenario-{index}-{''.join(c if c.isalnum() else '-' for c in result.name)}"


INDEX_LINE = 240


def _first_line(error: str | None) -> str:
    """The error's first line, shortened for the index (the section has it whole)."""
    line = (error or "failed").splitlines()[0] if error else "failed"
    return line if len(line) <= INDEX_LINE else line[: INDEX_LINE - 1] + "…"


def _failure_index(results: Sequence[ScenarioResult]) -> str:
    """A linked list of the failed scenarios with the first line of each error."""
    failed = [(i, r) for i, r in enumerate(results) if not r.passed]
    if not failed:
        return '<p class="index">No scenario failed.</p>'
    items = "".join(
        f'<li><a href="#{_anchor(i, r)}">{html.escape(r.name)}</a>: '
        f"{html.escape(_first_line(r.error))}</li>"
        for i, r in failed
    )
    return f'<nav class="index"><h2>Failed ({len(failed)})</h2><ol>{items}</ol></nav>'


def render_html(results: Sequence[ScenarioResult], title: str = "Scenario report") -> str:
    passed = sum(r.passed for r in results)
    sections = []
    for index, result in enumerate(results):
        state = "passed" if result.passed else "FAILED"
        error = f'<pre class="error">{html.escape(result.error)}</pre>' if result.error else ""
        rows = "".join(
            f'<tr class="{"bad" if not e.ok else ""}"><td>{e.at - result.started:.3f}s</td>'
            f"<td>{html.escape(e.kind)}</td><td>{html.escape(e.source)} → "
            f"{html.escape(e.target)}</td><td>{html.escape(e.label)}</td></tr>"
            for e in result.entries
        )
        sections.append(
            f'<section class="{state.lower()}" id="{_anchor(index, result)}">'
            f"<h2>{html.escape(result.name)} "
            f'<span class="badge">{state}</span> <small>{result.duration_s:.2f} s · '
            f"correlation id {html.escape(result.correlation_id)}</small></h2>"
            f"<p>{html.escape(result.description)}</p>{error}"
            f'<div class="diagram">{_svg(result)}</div>'
            f"<details><summary>timeline ({len(result.entries)} entries)</summary>"
            f"<table>{rows}</table></details></section>"
        )
    legend = " ".join(f'<span style="color:{c}">■ {k}</span>' for k, c in COLOURS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
section {{ border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; margin: 1em 0; }}
section.failed {{ border: 2px solid #b71c1c; background: #fff5f5; }}
.badge {{ font-size: 0.7em; padding: 2px 6px; border-radius: 4px; background: #2e7d32;
          color: white; }}
section.failed .badge {{ background: #b71c1c; }}
small {{ color: #666; font-weight: normal; }}
pre.error {{ background: #fdecea; padding: 0.6em; white-space: pre-wrap; }}
.diagram {{ overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td {{ border-bottom: 1px solid #eee; padding: 2px 8px; }}
tr.bad td {{ color: #b71c1c; font-weight: bold; }}
nav.index {{ border: 2px solid #b71c1c; border-radius: 6px; padding: 0.2em 1em;
             background: #fff5f5; }}
nav.index h2 {{ color: #b71c1c; font-size: 1.1em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{passed} of {len(results)} scenario(s) passed. {legend}</p>
{_failure_index(results)}
{"".join(sections)}
</body></html>
"""
