"""What the schemathesis contract tests of every service and mock share.

Each API is fuzzed per operation (``@schema.parametrize()``, one test per operation, see
``tests.schemathesis_ids``) with every check schemathesis has, including "schema-valid
request accepted": a request the document allows must not be refused with a 4xx other
than the ones positive data may get (401, 403, 404, 409, 429) unless a test says which
business refusal it is and why the document cannot express it.  Every case sent is
counted, so a module can show how many requests its API really got.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()

# Every check schemathesis knows; `call_and_validate` is given the list explicitly so no
# configuration can quietly switch one off.
ALL_CHECKS = list(CHECKS.get_all())


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
