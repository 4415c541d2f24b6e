"""The one ``/health`` format of every process of the sandbox: services, workers and mocks.

``GET /health`` answers a JSON object::

    {"status": "ok", "ready": true, "service": "payment-service", "process": "web",
     "pid": 4242, "timestamp": "2025-06-01T10:00:00Z",
     "checks": {"database": {"ok": true}, "provider": {"ok": false, "error": "..."}},
     ...what else the process reports (outbox, consumer counts, stored messages)}

- ``pid``: the answering process (a gunicorn worker for a web process): which replica
  answered, where several share a port.
- ``checks``: one entry per dependency or duty, each with ``ok`` and what explains it.
- ``status``: ``ok`` when every check passes, ``degraded`` when any fails.
- ``ready``: whether the process can do its job now.  A check that needs a person but
  does not stop the work (an *advisory* one: a relay's parked rows, the payment
  provider the payment API answers 502 for) fails ``status`` and leaves ``ready``.

The HTTP code follows from those two and nothing else: ``GET`` answers 200 when
``status`` is ``ok`` and 503 otherwise (``sandbox status`` calls a process healthy on
200); ``HEAD`` is the readiness probe the sandbox waits on when it starts a process and
answers 200 when ``ready``, 503 otherwise.  Mocks import this module too, so it depends
on nothing of the services.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Response

OK = "ok"
DEGRADED = "degraded"


def report(
    service: str,
    process: str,
    checks: Mapping[str, Mapping[str, Any]],
    *,
    advisory: Collection[str] = (),
    **sections: Any,
) -> dict[str, Any]:
    """The health body of a process; ``advisory`` checks do not make it unready."""
    healthy = all(check.get("ok") for check in checks.values())
    ready = all(check.get("ok") for name, check in checks.items() if name not in advisory)
    return {
        "status": OK if healthy else DEGRADED,
        "ready": ready,
        "service": service,
        "process": process,
        "pid": os.getpid(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "checks": {name: dict(check) for name, check in checks.items()},
        **sections,
    }


def failed(service: str, process: str, error: BaseException) -> dict[str, Any]:
    """The body of a health probe that itself failed: degraded and not ready."""
    return report(service, process, {"report": {"ok": False, "error": type(error).__name__}})


def http_status(body: Mapping[str, Any], method: str = "GET") -> int:
    """200 or 503: ``GET`` asks whether the process is healthy, ``HEAD`` whether ready."""
    ok = body.get("status") == OK
    if method.upper() == "HEAD":
        ok = bool(body.get("ready", ok))
    return 200 if ok else 503


def flask_response(body: Mapping[str, Any]) -> Response:
    """``body`` as the answer of a Flask ``/health`` route, coded for GET or HEAD."""
    # imported here: the workers' health servers use this module without Flask
    from flask import jsonify, request

    response = jsonify(body)
    response.status_code = http_status(body, request.method)
    return response


def healthy(code: int) -> bool:
    """Whether a ``GET /health`` answer with this HTTP code says healthy."""
    return code == 200


def failing(body: Any) -> list[str]:
    """The names of the failed checks in a health body (none when it is not one)."""
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict):
        return []
    return [
        name for name, check in checks.items() if not (isinstance(check, dict) and check.get("ok"))
    ]
