"""Which processes are the sandbox's own, proven before any of them is signalled.

A pid names a process only while that process lives: after a crash, the pids in a stale
``state.json`` may already belong to anything the machine started since.  So the
sandbox records every process it starts as a *fingerprint*, the pid with the process's
start time and command line, and signals a recorded pid only while all three still
match.  The start time compared is the kernel's count of clock ticks from boot to the
process's start, with the boot's id: the wall-clock start time psutil reports moves
whenever the machine's clock is set (a virtual machine's clock is often stepped right
after boot), so it is kept for messages and for state files that lack the tick count.
A live pid whose start time or command line differs is another program's (foreign)
and is left alone; so is a live pid recorded without a fingerprint (a state file
written by an older sandbox), since nothing proves it ours (unproven).

psutil reads the start time and command line; its ``send_signal`` checks once more that
the pid was not reused between the check and the signal.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import psutil

# psutil derives a wall-clock start time from the boot time, which the kernel reports to
# the second and restates after a clock adjustment; used only for records that lack
# the start in ticks from boot, which is exact.
START_TIME_TOLERANCE_S = 1.0
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# A process caught in the middle of exec (its new memory mapped, its arguments not yet
# placed) shows an empty command line; a record taken then would disown it later.
EXEC_SETTLE_S = 2.0


class Verdict(Enum):
    OURS = "ours"  # alive, same start time and command line as recorded
    GONE = "gone"  # no such process (or a zombie): nothing to signal
    FOREIGN = "foreign"  # alive, but another process than the one recorded
    UNPROVEN = "unproven"  # alive, recorded without a start time or command line


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    pid: int
    why: str = ""
    process: psutil.Process | None = field(default=None, compare=False, repr=False)


def fingerprint(pid: int | None) -> dict[str, Any]:
    """``pid``, ``create_time`` and ``cmdline`` of a running process, for the state file.

    Only ``pid`` when the process is already gone: such a record proves nothing later.
    """
    if not pid:
        return {"pid": None}
    deadline = time.monotonic() + EXEC_SETTLE_S
    try:
        process = psutil.Process(pid)
        while True:
            with process.oneshot():
                found = {
                    "pid": pid,
                    "create_time": process.create_time(),
                    "cmdline": process.cmdline(),
                }
                exited = process.status() == psutil.STATUS_ZOMBIE
            if found["cmdline"] or exited or time.monotonic() > deadline:
                break
            time.sleep(0.005)  # exec is still placing the arguments: read again
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return {"pid": pid}
    boot, since_boot = _boot_id(), _since_boot(pid)
    if boot and since_boot is not None:
        found.update(boot_id=boot, since_boot=since_boot)
    return found


def check(record: Mapping[str, Any]) -> Check:
    """Whether the process ``record`` describes still runs, and whether it is ours."""
    pid = int(record.get("pid") or 0)
    if pid <= 0:
        return Check(Verdict.GONE, pid, "no pid recorded")
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() == psutil.STATUS_ZOMBIE:
                return Check(Verdict.GONE, pid, "exited")
            started = process.create_time()
            cmdline = process.cmdline()
            owner = process.uids().real
    except psutil.NoSuchProcess:
        return Check(Verdict.GONE, pid, "exited")
    except psutil.AccessDenied:
        return Check(Verdict.FOREIGN, pid, "it belongs to another user")
    if owner != os.getuid():
        return Check(Verdict.FOREIGN, pid, f"it belongs to another user (uid {owner})")
    if record.get("create_time") is None or record.get("cmdline") is None:
        return Check(
            Verdict.UNPROVEN,
            pid,
            "the state file records no start time or command line for it (written by an "
            "older sandbox), so nothing proves it is ours",
        )
    recorded = float(record["create_time"])
    boot, since_boot = _boot_id(), _since_boot(pid)
    if record.get("boot_id") and boot and record["boot_id"] != boot:
        return Check(
            Verdict.FOREIGN,
            pid,
            f"the machine has restarted since ours started at {_when(recorded)} "
            f"(it runs `{_short(cmdline)}`)",
        )
    if record.get("since_boot") is not None and since_boot is not None:
        started_elsewhen = since_boot != float(record["since_boot"])
    else:  # a record without the tick count: the wall-clock start, within a second
        started_elsewhen = abs(started - recorded) > START_TIME_TOLERANCE_S
    if started_elsewhen:
        return Check(
            Verdict.FOREIGN,
            pid,
            f"it started at {_when(started)}, ours at {_when(recorded)} "
            f"(it runs `{_short(cmdline)}`)",
        )
    if list(cmdline) != list(record["cmdline"]):
        return Check(
            Verdict.FOREIGN,
            pid,
            f"it runs `{_short(cmdline)}`, ours ran `{_short(record['cmdline'])}`",
        )
    return Check(Verdict.OURS, pid, process=process)


def signal_if_ours(record: Mapping[str, Any], sig: int = signal.SIGKILL) -> Check:
    """Send ``sig`` to the recorded process, and its process group when it leads one,
    only when it is proven ours; the check says what was found either way."""
    found = check(record)
    if found.verdict is not Verdict.OURS or found.process is None:
        return found
    try:
        # A group id stays taken while any member lives, so the group led by a process
        # proven ours holds only its own descendants.
        if os.getpgid(found.pid) == found.pid:
            os.killpg(found.pid, sig)
        else:
            found.process.send_signal(sig)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return Check(Verdict.GONE, found.pid, "exited")
    return found


def recorded(state: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, record) of every process a state file says the sandbox started."""
    supervisor = state.get("supervisor") or {}
    if supervisor.get("pid"):
        yield "supervisor", supervisor
    broker = state.get("broker") or {}
    if broker.get("pid"):
        yield "broker", broker
    for node in broker.get("nodes") or []:
        if node.get("pid"):
            yield str(node.get("name") or "broker node"), node
    for name, entry in (state.get("components") or {}).items():
        if (entry or {}).get("pid"):
            yield str(name), entry


@dataclass
class Sweep:
    """What clearing a state file's processes did: killed ours, spared the rest."""

    killed: list[str] = field(default_factory=list)
    spared: list[str] = field(default_factory=list)
    unproven: int = 0

    def notes(self) -> list[str]:
        return [f"left alone: {line}" for line in self.spared]


def kill_leftovers(state: Mapping[str, Any]) -> Sweep:
    """SIGKILL every recorded process still alive that is proven ours; spare the rest."""
    sweep = Sweep()
    for name, record in recorded(state):
        if int(record.get("pid") or 0) == os.getpid():
            continue
        found = signal_if_ours(record, signal.SIGKILL)
        if found.verdict is Verdict.OURS:
            sweep.killed.append(f"{found.pid} ({name})")
        elif found.verdict is Verdict.FOREIGN:
            sweep.spared.append(f"pid {found.pid}, recorded as {name}, is not ours: {found.why}")
        elif found.verdict is Verdict.UNPROVEN:
            sweep.unproven += 1
            sweep.spared.append(
                f"pid {found.pid}, recorded as {name}, is alive but unproven: {found.why}; "
                "stop it yourself if it is a sandbox process"
            )
    return sweep


def supervisor_running(state: Mapping[str, Any]) -> bool:
    """True when the state's supervisor is alive and proven to be the one recorded."""
    return check(state.get("supervisor") or {}).verdict is Verdict.OURS


def _boot_id() -> str | None:
    """The kernel's id of this boot (Linux), or None where there is none to read."""
    try:
        with open(BOOT_ID, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _since_boot(pid: int) -> float | None:
    """Seconds from boot to the start of ``pid``, from ``/proc/PID/stat`` (Linux): the
    clock-independent start time psutil itself identifies processes by."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        # the fields after the command name start at the third, the state; starttime is
        # the twenty-second
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _short(cmdline: Any, limit: int = 80) -> str:
    text = shlex.join(str(part) for part in cmdline) if isinstance(cmdline, list) else str(cmdline)
    return text if len(text) <= limit else text[: limit - 3] + "..."
