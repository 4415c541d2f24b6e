"""Fail the session when a collected test did not run or two tests share a node id.

pytest-xdist schedules by node id: two items with the same id run once between them, and
nothing else notices (it once hid 38 generated contract tests).  This plugin records the
node ids collected (on the xdist controller: the list every worker reports) and the ids
that reported a teardown (every test that ran does, whether it passed, failed, errored
or was skipped), and at the end of a complete session fails it, naming the ids, when an
id is duplicated or a collected test never ran.  Sessions cut short on purpose (``-x``,
``--maxfail``, Ctrl-C) and ``--collect-only`` are not checked.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

NAME = "every-test-runs"


class EveryTestRuns:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collected: list[str] | None = None
        self.ran: set[str] = set()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # Every worker collects the whole suite (xdist refuses to run if they disagree).
        if self.collected is None:
            self.collected = list(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.ran.add(report.nodeid)

    def problems(self) -> list[str]:
        """What is wrong with this session's runs, one line each (empty when all ran)."""
        collected = self.collected or []
        lines = [
            f"{count} tests share the node id {node_id} (only one of them can run)"
            for node_id, count in Counter(collected).items()
            if count > 1
        ]
        lines += [
            f"collected but never ran: {node_id}"
            for node_id in dict.fromkeys(collected)
            if node_id not in self.ran
        ]
        return lines

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        cut_short = session.shouldstop or session.shouldfail
        if self.collected is None or cut_short or exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        problems = self.problems()
        if not problems:
            return
        total = len(self.collected)
        ran = len(self.ran & set(self.collected))
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"{ran} of {total} collected tests ran", red=True)
            for line in problems:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.option.collectonly:
        return  # an xdist worker: the controller sees every report and checks
    config.pluginmanager.register(EveryTestRuns(config), NAME)
