"""Entry point for ``locust -f loadtests/locustfile.py`` (and ``sandbox load``).

Default mix: ``CardFlowUser`` (4) and ``IntentFlowUser`` (1).  Name classes on the
command line to pick others, e.g. ``EventPublisherUser`` for consumer lag.  With a
sandbox running in ``.sandbox`` no option is needed, for the web UI or ``--headless``;
without targets the run stops at once and says how to give them.
Options: ``locust -f loadtests/locustfile.py --help`` (group "payment-flow sandbox").
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust import events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.util.timespan import parse_timespan

from loadtests import options, runtime
from loadtests.users import CardFlowUser, EventPublisherUser, IntentFlowUser

__all__ = ["CardFlowUser", "EventPublisherUser", "IntentFlowUser"]
DEFAULT_MIX = ("CardFlowUser", "IntentFlowUser")

# pika logs each refused connect while a broker restarts; the tracker reconnects itself
logging.getLogger("pika").setLevel(logging.CRITICAL)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    parsed = environment.parsed_options
    if parsed is None or isinstance(environment.runner, WorkerRunner):
        return  # a worker spawns whatever the master tells it to, by class name
    # custom options travel from the master to the workers; the user count does not
    parsed.flow_users = parsed.num_users
    if not isinstance(environment.runner, MasterRunner):
        # no targets is an error now, with its hint, not a web UI that hangs on "Start"
        options.targets(parsed)
    if not parsed.user_classes:
        # Locust runs every class of the file when none is named: keep to the default mix
        environment.user_classes[:] = [
            c for c in environment.user_classes if c.__name__ in DEFAULT_MIX
        ]


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        runtime.start(environment)
    elif environment.parsed_options.stop_after:
        gevent.spawn(_stop_then_quit, environment, environment.parsed_options.stop_after)


def _stop_then_quit(environment: Any, after: str) -> None:
    """A master's graceful end: ``--run-time`` quits at once and drops the workers' last
    statistics (flows still waiting for their email); this stops the workers first,
    waits until their users finished, lets one more report arrive, then quits."""
    gevent.sleep(parse_timespan(after))
    runner = environment.runner
    runner.stop()  # sends stop to the workers and waits for their users to finish
    gevent.sleep(WORKER_REPORT_INTERVAL + 1)
    runner.quit()


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
