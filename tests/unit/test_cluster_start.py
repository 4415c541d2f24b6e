"""Starting a whole cluster at once: a node that exits while its peers boot starts again."""

from __future__ import annotations

import pytest

from sandbox.broker.cluster import _start_together
from sandbox.broker.local import NodeStartError


class FakeNode:
    """A node whose first ``failures`` starts exit as RabbitMQ 3.10's feature-flag sync
    can make them."""

    def __init__(self, name: str, failures: int = 0, error: Exception | None = None) -> None:
        self.nodename = name
        self.failures = failures
        self.error = error
        self.starts = 0

    def start(self, await_startup: bool = True) -> FakeNode:
        self.starts += 1
        if self.error is not None:
            raise self.error
        if self.starts <= self.failures:
            raise NodeStartError(f"{self.nodename} did not start: exited with 1")
        return self


def test_a_node_that_exits_while_its_peers_start_is_started_again_alone() -> None:
    nodes = [FakeNode("a"), FakeNode("b", failures=1), FakeNode("c")]
    _start_together(nodes)  # type: ignore[arg-type]
    assert [node.starts for node in nodes] == [1, 2, 1]


def test_a_node_that_fails_twice_is_reported() -> None:
    nodes = [FakeNode("a"), FakeNode("b", failures=2)]
    with pytest.raises(NodeStartError, match="b did not start"):
        _start_together(nodes)  # type: ignore[arg-type]


def test_other_failures_are_not_retried() -> None:
    nodes = [FakeNode("a", error=FileNotFoundError("rabbitmq-server not found"))]
    with pytest.raises(FileNotFoundError):
        _start_together(nodes)  # type: ignore[arg-type]
    assert nodes[0].starts == 1
