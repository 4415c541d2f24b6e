"""The fault log a ``FaultRunner`` writes (``faults.jsonl``): read back, summarised, and
asked when the last fault was over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.load.faults import UNDO


def summary(records: list[dict[str, Any]], log_path: Path) -> str:
    """A few lines: what ran, what failed, what the supervisor restarted, what was undone."""
    actions = [r for r in records if r["event"] == "action" and r["action"] != "seed_provider"]
    failed = [r for r in records if r["event"] in ("action", "undo", "restarted") and not r["ok"]]
    skipped = [r for r in records if r["event"] == "skipped"]
    lines = [
        f"faults: {len(actions)} step(s) run, {len(failed)} failed, {len(skipped)} skipped "
        f"(the load ended first); log: {log_path}"
    ]
    for r in actions:
        mark = "ok " if r["ok"] else "FAILED"
        late = f", {r['late_s']:+.1f} s late" if abs(r.get("late_s") or 0) >= 0.5 else ""
        outcome = f": {r['error']}" if not r["ok"] else _outcome(r.get("result"))
        lines.append(
            f"  {r['at_s']:8.1f}s  {mark:<6} {r['action']} {r['target']} "
            f"(took {r['took_s']:.1f} s{late}){outcome}"
        )
    for r in (r for r in records if r["event"] == "restarted"):
        shown = f"running again after {r['after_s']:.1f} s" if r["ok"] else r["error"]
        lines.append(f"  supervisor restarted {r['target']}: {shown}")
    for r in records:
        if r["event"] == "undo":
            failure = "" if r["ok"] else f" FAILED: {r['error']}"
            lines.append(f"  undone at the end: {r['action']} {r['target']}{failure}")
        elif r["event"] == "error":
            lines.append(f"  runner error: {r['error']}")
        elif r["event"] == "unplanned_restart":
            lines.append(
                f"  WARNING: {r['target']} died and was restarted {r['restarts']} time(s) "
                "without the plan killing it; a mock restarted loses what it recorded, so the "
                "reconciliation may miss its emails or callbacks"
            )
    return "\n".join(lines)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a fault log (``faults.jsonl``); a line that cannot be read is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record:
            records.append(record)
    return records


def last_fault_end(records: list[dict[str, Any]]) -> tuple[float, str] | None:
    """When (epoch seconds) the last fault was over, and what ended it: a killed process
    running again, a broker or node started, a window undone."""
    ends: list[tuple[float, str]] = []
    for r in records:
        if not r.get("ok") or "wall_time" not in r:
            continue
        if r["event"] == "restarted":
            ends.append((float(r["wall_time"]), f"{r['target']} running again"))
        elif r["event"] in ("action", "undo") and r.get("action") in UNDO.values():
            end = float(r["wall_time"]) + float(r.get("took_s") or 0.0)
            ends.append((end, f"{r['action']} {r['target']} done"))
    return max(ends, default=None)


def _outcome(result: Any) -> str:
    """The part of an action's answer worth a glance (DLQ replays, SMTP refusals)."""
    if not isinstance(result, dict):
        return ""
    if "replayed" in result:
        return f": replayed {sum(result['replayed'].values())} dead letter(s)"
    refused = (result.get("refuse") or {}).get("refused_total")
    return f": {refused} SMTP command(s) refused so far" if refused is not None else ""
