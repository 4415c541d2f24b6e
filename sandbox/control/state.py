"""The state of a running sandbox, in one file every command finds: ``.sandbox/state.json``.

The supervisor writes it (atomically: write a temporary file, then rename) as the
sandbox comes up and changes; ``up``, ``status``, ``down``, ``logs``, scenarios and load
tests read it to find ports, pids and URLs.  ``SupervisorClient`` talks to the running
supervisor's control API.

The file holds the sandbox's secrets (the generated keys and the control API's token),
so only its owner may read it: the state directory is 0700 and the file is created 0600
(``mkstemp``), never readable by others even for a moment.  ``masked`` is what commands
print instead.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.control.ownership import supervisor_running

STATE_FILE = "state.json"
STATE_DIR_NAME = ".sandbox"
MASK = "***"
# Keys whose values are secrets wherever they appear in the state.
SECRET_WORDS = ("secret", "token", "password", "api_key")


def find_state_dir(
    given: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    cwd: Path | None = None,
) -> Path:
    """The state directory a command works on, found as git finds its repository.

    ``given`` (``--state-dir``) first, then ``SANDBOX_STATE_DIR``, then the nearest
    ``.sandbox`` directory in ``cwd`` or one of its parents, so that a command run from a
    subdirectory finds the sandbox started at the project's root; else ``./.sandbox``.
    """
    if given:
        return Path(given).resolve()
    if environ.get("SANDBOX_STATE_DIR"):
        return Path(environ["SANDBOX_STATE_DIR"]).resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR_NAME).is_dir():
            return folder / STATE_DIR_NAME
    return here / STATE_DIR_NAME


class NotRunning(RuntimeError):
    """No sandbox is running for this state directory."""


class StateFile:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / STATE_FILE
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return {}

    def write(self, **state: Any) -> None:
        with self._lock:
            self._write(state)

    def update(self, **changes: Any) -> None:
        with self._lock:
            state = self.read()
            state.update(changes)
            self._write(state)

    def set_component(self, name: str, entry: dict[str, Any]) -> None:
        with self._lock:
            state = self.read()
            state.setdefault("components", {})[name] = entry
            self._write(state)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def ensure_dir(self) -> None:
        """Create the state directory, or take an existing one, as owner-only (0700)."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_dir.chmod(0o700)

    def _write(self, state: dict[str, Any]) -> None:
        self.ensure_dir()
        # mkstemp creates the file 0600 in one call; the rename keeps that mode.
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".state.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle, indent=2, default=str)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def masked(value: Any) -> Any:
    """``value`` with every secret in it (by key name) replaced by ``***``."""
    if isinstance(value, Mapping):
        return {
            key: MASK if _secret_key(str(key)) and item else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


# user:password@ in a URL (AMQP or other) that a message repeats
_CREDENTIALS = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]*@")


def hide_credentials(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1***@", text)


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered == "secrets" or any(word in lowered for word in SECRET_WORDS)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    except OSError:
        return True


class ControlRefused(PermissionError):
    """The supervisor refused a control request: no token, or not its token."""


class SupervisorClient:
    """Control a running sandbox: kill, stop, start and restart its processes.

    Every request carries the supervisor's token (``Authorization: Bearer``), read from
    the owner-only state file: whoever can read that file may control the sandbox.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_file = StateFile(state_dir)

    def state(self) -> dict[str, Any]:
        state = self.state_file.read()
        if not state or not supervisor_running(state):
            raise NotRunning(
                f"no sandbox running for {self.state_file.state_dir} (start one with `sandbox up`)"
            )
        return state

    @property
    def control_url(self) -> str:
        return self._control()[0]

    def secrets(self) -> dict[str, str]:
        """The generated keys the sandbox's processes share (provider key, webhook and
        merchant secrets), e.g. to sign a webhook the way the provider does."""
        return dict(self.state().get("secrets") or {})

    def action(self, component: str, action: str, timeout: float = 120.0) -> dict[str, Any]:
        return self._post(f"/components/{component}/{action}", timeout=timeout)

    def shutdown(self, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the supervisor to stop everything and exit; returns at once."""
        return self._post("/shutdown", timeout=timeout)

    def _control(self) -> tuple[str, str]:
        supervisor = self.state().get("supervisor") or {}
        url, token = supervisor.get("control_url"), supervisor.get("token")
        if not url or not token:
            raise NotRunning("the sandbox is still starting; its control API is not up yet")
        return str(url), str(token)

    def _post(self, path: str, timeout: float) -> dict[str, Any]:
        url, token = self._control()
        import requests  # loaded when asked: not on the supervisor's boot path

        response = requests.post(
            f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            if response.status_code == 401:
                raise ControlRefused(message)
            raise KeyError(message)
        return dict(response.json())

    def kill(self, component: str) -> dict[str, Any]:
        return self.action(component, "kill")

    def restart(self, component: str) -> dict[str, Any]:
        return self.action(component, "restart")

    def stop(self, component: str) -> dict[str, Any]:
        return self.action(component, "stop")

    def start(self, component: str) -> dict[str, Any]:
        return self.action(component, "start")

    def broker_nodes(self) -> list[dict[str, Any]]:
        """The nodes of a cluster broker (name, nodename, url, pid, status); [] for one node."""
        return list((self.state().get("broker") or {}).get("nodes") or [])

    def endpoint(self, component: str) -> str:
        entry = (self.state().get("components") or {}).get(component) or {}
        if not entry.get("endpoint"):
            raise KeyError(f"{component} has no endpoint in this sandbox")
        return str(entry["endpoint"])
