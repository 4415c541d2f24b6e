"""What the schemathesis contract tests of every service and mock share.

Each API is fuzzed per operation (``@schema.parametrize()``, one test per operation, see
``tests.schemathesis_ids``) with every check schemathesis has, including "schema-valid
request accepted": a request the document allows must not be refused with a 4xx other
than the ones positive data may get (401, 403, 404, 409, 429) unless a test says which
business refusal it is and why the document cannot express it.  Every case sent is
counted, so a module can show how many requests its API really got.

Load a document with ``load(path)``: the HTTP server's own refusals of a request line or
header block past its limits (gunicorn: 4094 and 8190 bytes; 414 and 431) come before
any operation runs and are described once in each document's ``info``, not per
operation, so a generated request that large is judged by those refusals' JSON shape
(held to it in ``tests/integration/test_hostile_input.py``), not by the operation's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()

# Every check schemathesis knows; `call_and_validate` is given the list explicitly so no
# configuration can quietly switch one off.
ALL_CHECKS = list(CHECKS.get_all())


SERVER_LIMIT_STATUSES = (414, 431)


def load(path: Path, config: schemathesis.Config | None = None) -> schemathesis.BaseSchema:
    """The OpenAPI document at ``path``, with the server's size refusals judged apart."""
    schema = schemathesis.openapi.from_path(path, config=config)

    @schema.hook
    def filter_failure(context: Any, failure: Any, case: schemathesis.Case, response: Any) -> bool:
        if response is None or response.status_code not in SERVER_LIMIT_STATUSES:
            return True
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return True  # not the JSON refusal it must be: keep the failure
        return not isinstance(error, dict) or "message" not in error

    return schema


def fuzz_settings(max_examples: int) -> Any:
    """Hypothesis settings for one operation's test (``max_examples`` fuzzed cases, plus
    the examples and boundary cases schemathesis adds)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )


class CaseCount:
    """How many generated requests each operation of one API was sent."""

    def __init__(self, schema: schemathesis.BaseSchema) -> None:
        self.labels = [result.ok().label for result in schema.get_all_operations()]
        self.sent: Counter[str] = Counter()

    def add(self, case: schemathesis.Case) -> None:
        self.sent[case.operation.label] += 1

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def require(self, minimum: int) -> None:
        """Fail unless the API got ``minimum`` requests; skip if some operations did not run."""
        untested = [label for label in self.labels if not self.sent[label]]
        if untested:
            pytest.skip(f"not every operation was fuzzed in this session: {untested}")
        assert self.total >= minimum, f"only {self.total} generated requests: {dict(self.sent)}"
