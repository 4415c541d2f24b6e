"""``sandbox logs``: the end of each process's log, one flow's lines, or a live follow.

Every process of a sandbox writes ``<state dir>/logs/<name>.log``; the services write one
JSON object per line with the flow's ``correlation_id`` (``sandbox.services.common.jsonlog``),
the mocks and the broker plain text.  A correlation-id filter keeps the JSON lines of that
flow and the plain lines that mention the id.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

from sandbox.exitcodes import EXIT_OK, EXIT_USAGE

FOLLOW_INTERVAL_S = 0.2


def matches(line: str, correlation_id: str | None) -> bool:
    """True when ``line`` belongs to the flow ``correlation_id`` (every line without one)."""
    if not correlation_id:
        return True
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and "correlation_id" in entry:
            return entry["correlation_id"] == correlation_id
    return re.search(rf"(?<![\w-]){re.escape(correlation_id)}(?![\w-])", line) is not None


def _files(directory: Path, name: str | None) -> list[Path]:
    files = sorted(directory.glob("*.log")) if directory.exists() else []
    return [f for f in files if f.stem == name] if name else files


def show(
    state_dir: Path,
    name: str | None,
    lines: int,
    *,
    follow: bool = False,
    correlation_id: str | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Print the last ``lines`` (matching) lines of each log; with ``follow``, go on
    printing what is appended until Ctrl-C or SIGTERM (or ``stop`` is set)."""
    directory = state_dir / "logs"
    files = _files(directory, name)
    if name and not files:
        known = ", ".join(f.stem for f in _files(directory, None))
        print(f"no log for {name!r} in {directory} (known: {known or 'none'})", file=sys.stderr)
        return EXIT_USAGE
    offsets: dict[Path, int] = {}
    for path in files:
        data = path.read_bytes()
        offsets[path] = len(data)
        text = data.decode(errors="replace").splitlines()
        kept = [line for line in text if matches(line, correlation_id)]
        print(f"==> {path} <==")
        print("\n".join(kept[-lines:]) if lines > 0 else "", flush=follow)
    if not follow:
        return EXIT_OK
    with _ended_by_signals(), contextlib.suppress(KeyboardInterrupt):
        _follow(directory, name, offsets, correlation_id, stop or threading.Event())
    return EXIT_OK


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _ended_by_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT) or SIGTERM ends a follow, also when the follow was started with
    SIGINT ignored, as a shell does for a command it runs in the background.  Only the
    main thread can take signals; elsewhere the caller's ``stop`` ends it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in before:
        signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in before.items():
            if handler is not None:  # None: set outside Python, left as it is
                signal.signal(number, handler)


def _follow(
    directory: Path,
    name: str | None,
    offsets: dict[Path, int],
    correlation_id: str | None,
    stop: threading.Event,
) -> None:
    """Print complete new lines as they are appended, prefixed by their process when
    several logs are followed; a log that appears later (a replica, a restarted sandbox)
    is followed from its start, one that shrank (cleared by a new ``up``) from its start."""
    prefix = "" if name else "{name:<22} "
    pending: dict[Path, bytes] = {}
    while not stop.wait(FOLLOW_INTERVAL_S):
        for path in _files(directory, name):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            start = offsets.get(path, 0)
            if size < start:
                start, pending[path] = 0, b""
            if size == start:
                continue
            with path.open("rb") as handle:
                handle.seek(start)
                chunk = pending.get(path, b"") + handle.read(size - start)
            offsets[path] = size
            *complete, pending[path] = chunk.split(b"\n")
            _print_lines(
                (line.decode(errors="replace") for line in complete),
                prefix.format(name=path.stem),
                correlation_id,
            )


def _print_lines(lines: Iterable[str], prefix: str, correlation_id: str | None) -> None:
    kept = [prefix + line for line in lines if matches(line, correlation_id)]
    if kept:
        print("\n".join(kept), flush=True)
