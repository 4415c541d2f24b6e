"""Shared test configuration; the broker fixtures come from sandbox.pytest_plugin."""

from __future__ import annotations

import logging

# pika logs every failed connect at ERROR while a node boots or restarts; tests that
# provoke that on purpose would drown their own output.
logging.getLogger("pika").setLevel(logging.CRITICAL)

pytest_plugins = ["pytester", "tests.schemathesis_ids", "tests.every_test_runs"]
