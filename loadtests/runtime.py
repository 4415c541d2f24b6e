"""What one Locust process shares between its users: targets, tracker, ledger.

Built when the test starts in every process that runs users (the local runner or a
worker, never the master) and torn down when Locust quits.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.options import Targets, targets
from loadtests.tracker import FlowTracker, Ledger
from sandbox.settings import BrokerSettings

# the events that end a flow (users) or time consumer lag (the event publisher)
WATCHED = ("notification.sent", "appointment.confirmed")


@dataclass
class Runtime:
    environment: Any
    targets: Targets
    tracker: FlowTracker
    ledger: Ledger | None
    tenant: str
    exchange: str
    declined_ratio: float
    flow_timeout: float
    random: random.Random = field(default_factory=random.Random)

    def record(self, flow: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.record(**flow)

    def fire(self, kind: str, name: str, ms: float, exception: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=ms,
            response_length=0,
            exception=exception,
            context={},
            start_time=time.time() - ms / 1000,
            url=None,
        )


_current: Runtime | None = None


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the load runtime is not started (no test_start in this process)")
    return _current


def start(environment: Any) -> Runtime:
    global _current
    if _current is not None:
        return _current
    options = environment.parsed_options
    where = targets(options)
    # FastHttpUser insists on a base host; every request here is an absolute URL
    environment.host = environment.host or where.appointment
    exchange = BrokerSettings.from_env().exchange
    tracker = FlowTracker(where.amqp, exchange, WATCHED).start()
    ledger = Ledger(Path(options.ledger_dir)) if options.ledger_dir else None
    _current = Runtime(
        environment=environment,
        targets=where,
        tracker=tracker,
        ledger=ledger,
        tenant=options.tenant,
        exchange=exchange,
        declined_ratio=options.declined_ratio,
        flow_timeout=options.flow_timeout,
    )
    return _current


def stop() -> None:
    global _current
    if _current is None:
        return
    _current.tracker.stop()
    if _current.ledger is not None:
        _current.ledger.close()
    _current = None
