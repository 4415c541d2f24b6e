"""`sandbox up` and `down` signal only processes they prove are their own.

Every test plants real processes on pids a stale ``state.json`` records, the way a
crashed sandbox leaves them: a foreign program on a reused pid (same pid, another start
time and command line), a leftover of the sandbox's own (its true fingerprint), or a
live pid an older state file recorded without a fingerprint.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from sandbox.control.ownership import Verdict, check, fingerprint
from sandbox.control.state import StateFile
from tests.integration.cli_support import sandbox

pytestmark = [pytest.mark.integration]

# a process that does nothing until a signal ends it
SLEEPER = [sys.executable, "-c", "import signal; signal.pause()"]


@pytest.fixture
def spawn() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start idle processes in their own session, as the sandbox starts its processes."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(SLEEPER, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sbx"
    yield directory
    sandbox(directory, "down", timeout=120)


def reused_pid(pid: int, *, differs: str = "start time") -> dict[str, object]:
    """A record of a sandbox process whose pid the kernel has since given to ``pid``:
    the process there differs from the record in its start time and command line, or,
    to show that each is checked, in only one of them."""
    real = fingerprint(pid)
    smtp = [sys.executable, "-m", "mocks.smtp", "--host", "127.0.0.1"]
    earlier = 0 if differs == "command line" else 3600
    return {
        **real,
        "create_time": float(real["create_time"]) - earlier,
        "since_boot": float(real["since_boot"]) - earlier,
        "cmdline": real["cmdline"] if differs == "start time" else smtp,
        "status": "ready",
    }


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def stale_state(state_dir: Path, components: dict[str, dict[str, object]]) -> None:
    """What a crashed sandbox leaves: a dead supervisor and the components it recorded."""
    dead = exited_pid()
    StateFile(state_dir).write(
        status="ready",
        supervisor={"pid": dead, "create_time": 0.0, "cmdline": ["python"]},
        components=components,
    )


def alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


@pytest.mark.parametrize(
    ("differs", "explained"),
    [("start time", "ours at"), ("command line", "ours ran `"), ("both", "ours at")],
)
def test_down_leaves_a_foreign_process_on_a_recorded_pid_alone(
    state_dir, spawn, differs, explained
):
    foreign = spawn()
    stale_state(state_dir, {"smtp": reused_pid(foreign.pid, differs=differs)})

    result = sandbox(state_dir, "down")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pid {foreign.pid}, recorded as smtp, is not ours" in result.stdout
    assert explained in result.stdout
    assert alive(foreign)
    assert not (state_dir / "state.json").exists()


def test_down_kills_a_leftover_it_proves_its_own(state_dir, spawn):
    own = spawn()
    stale_state(state_dir, {"provider": {**fingerprint(own.pid), "status": "ready"}})

    result = sandbox(state_dir, "down")

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"had to be killed: ['{own.pid} (provider)']" in result.stdout
    assert own.wait(timeout=10) == -signal.SIGKILL


def test_a_leftover_of_its_own_is_proven_after_the_clock_was_set(state_dir, spawn):
    """The start time compared is counted from boot: a wall clock set after the record
    was written (as a virtual machine's clock is, soon after boot) proves nothing."""
    own = spawn()
    record = fingerprint(own.pid)
    stale_state(
        state_dir,
        {"provider": {**record, "create_time": record["create_time"] + 90, "status": "ready"}},
    )

    result = sandbox(state_dir, "down")

    assert f"had to be killed: ['{own.pid} (provider)']" in result.stdout
    assert own.wait(timeout=10) == -signal.SIGKILL


def test_a_pid_recorded_in_an_earlier_boot_is_not_ours(state_dir, spawn):
    survivor = spawn()
    record = {**fingerprint(survivor.pid), "boot_id": "an-earlier-boot", "status": "ready"}
    stale_state(state_dir, {"merchant": record})

    result = sandbox(state_dir, "down")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "the machine has restarted since ours started" in result.stdout
    assert alive(survivor)


def test_down_spares_a_live_pid_an_old_state_file_recorded_without_a_fingerprint(state_dir, spawn):
    survivor = spawn()
    stale_state(state_dir, {"merchant": {"pid": survivor.pid, "status": "ready"}})

    result = sandbox(state_dir, "down")

    # exit 1: the sandbox cannot say that everything of its own has stopped
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"pid {survivor.pid}, recorded as merchant, is alive but unproven" in result.stdout
    assert "older sandbox" in result.stdout
    assert alive(survivor)


def test_a_foreign_process_on_a_recorded_pid_survives_up_and_down(state_dir, spawn):
    foreign, own = spawn(), spawn()
    stale_state(
        state_dir,
        {
            "smtp": reused_pid(foreign.pid),
            "provider": {**fingerprint(own.pid), "status": "ready"},
        },
    )

    started = sandbox(state_dir, "up", "--only", "smtp")

    assert started.returncode == 0, started.stdout + started.stderr
    assert "killed 1 leftover process(es) of its own" in started.stdout
    assert f"pid {foreign.pid}, recorded as smtp, is not ours" in started.stdout
    assert own.wait(timeout=10) == -signal.SIGKILL
    assert alive(foreign)
    assert StateFile(state_dir).read()["components"]["smtp"]["pid"] != foreign.pid

    stopped = sandbox(state_dir, "down")

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert alive(foreign)


def test_a_process_fingerprinted_while_it_execs_is_recorded_with_its_command_line(
    spawn, monkeypatch
):
    """Right after ``Popen`` returns the child may still be inside exec, its arguments
    not yet placed, and /proc shows an empty command line (about one fresh child in a
    few hundred on this machine). A record taken then would disown the process later,
    so the fingerprint reads again until the command line is there."""
    process = spawn()
    real = psutil.Process.cmdline
    reads = []

    def mid_exec(self):
        reads.append(self.pid)
        return [] if len(reads) <= 3 else real(self)

    monkeypatch.setattr(psutil.Process, "cmdline", mid_exec)

    record = fingerprint(process.pid)

    assert record["cmdline"] == SLEEPER
    assert len(reads) == 4
    assert check(record).verdict is Verdict.OURS
