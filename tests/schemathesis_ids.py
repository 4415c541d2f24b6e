"""Give each test schemathesis generates per API operation a node id of its own.

schemathesis names its items ``test_x[GET /health]``, but under pytest 9 a node id is
built from the function's name and its ``parametrize`` parameters only, so every
operation of a ``@schema.parametrize()`` test got the same id ``test_x``, and
pytest-xdist, which schedules by id, ran one of them.  Here the operation's label
becomes the id's parameter, as a ``parametrize`` id would: ``test_x[GET /health]``.
Items that already have parameters (a ``parametrize`` on top) keep their unique ids.
``tests.every_test_runs`` fails the session should ids clash again.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]") and item.name.endswith(f"[{label}]"):
            item._id = item._id.with_params(label)
