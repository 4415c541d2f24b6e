"""Entry point for ``locust -f loadtests/locustfile.py`` (and ``sandbox load``).

Default mix: ``CardFlowUser`` (4) and ``IntentFlowUser`` (1).  Name classes on the
command line to pick others, e.g. ``EventPublisherUser`` for consumer lag.
Options: ``locust -f loadtests/locustfile.py --help`` (group "payment-flow sandbox").
"""

from __future__ import annotations

import logging
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadtests import options, runtime
from loadtests.users import CardFlowUser, EventPublisherUser, IntentFlowUser

__all__ = ["CardFlowUser", "EventPublisherUser", "IntentFlowUser"]

# pika logs each refused connect while a broker restarts; the tracker reconnects itself
logging.getLogger("pika").setLevel(logging.CRITICAL)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    parsed = environment.parsed_options
    if parsed is not None and not isinstance(environment.runner, WorkerRunner):
        # custom options travel from the master to the workers; the user count does not
        parsed.flow_users = parsed.num_users


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        runtime.start(environment)


@events.quitting.add_listener
def _quit(environment: Any, **_: Any) -> None:
    runtime.stop()
    if isinstance(environment.runner, WorkerRunner):
        return
    summary = options.summarise(environment.stats, environment.parsed_options)
    print(options.render(summary), flush=True)
    if environment.parsed_options.summary_json:
        options.write_summary(environment.parsed_options.summary_json, summary)
    if summary.checks:
        # the thresholds decide; without any, Locust's own rule (any error fails) stands
        environment.process_exit_code = 0 if summary.passed else 1
