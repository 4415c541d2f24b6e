"""The state of a running sandbox, in one file every command finds: ``.sandbox/state.json``.

The supervisor writes it (atomically: write a temporary file, then rename) as the
sandbox comes up and changes; ``up``, ``status``, ``down``, ``logs``, scenarios and load
tests read it to find ports, pids and URLs.  ``SupervisorClient`` talks to the running
supervisor's control API.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import requests

STATE_FILE = "state.json"


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

    def _write(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(state, indent=2, default=str))
        tmp.replace(self.path)


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


class SupervisorClient:
    """Control a running sandbox: kill, stop, start and restart its processes."""

    def __init__(self, state_dir: Path) -> None:
        self.state_file = StateFile(state_dir)

    def state(self) -> dict[str, Any]:
        state = self.state_file.read()
        pid = (state.get("supervisor") or {}).get("pid")
        if not state or not pid_alive(pid):
            raise NotRunning(
                f"no sandbox running for {self.state_file.state_dir} (start one with `sandbox up`)"
            )
        return state

    @property
    def control_url(self) -> str:
        url = (self.state().get("supervisor") or {}).get("control_url")
        if not url:
            raise NotRunning("the sandbox is still starting; its control API is not up yet")
        return str(url)

    def action(self, component: str, action: str, timeout: float = 120.0) -> dict[str, Any]:
        response = requests.post(
            f"{self.control_url}/components/{component}/{action}", timeout=timeout
        )
        if response.status_code >= 400:
            raise KeyError(response.json().get("error", {}).get("message", response.text))
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
