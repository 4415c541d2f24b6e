"""The session fails when a collected test does not run, with and without pytest-xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GUARD = ("-p", "tests.every_test_runs", "-p", "no:cacheprovider")
XDIST = ("-p", "xdist", "-n", "2", "--dist", "loadfile")
SCHEMATHESIS = ("-p", "schemathesis", "-p", "tests.schemathesis_ids")

# Two items that share one node id, as schemathesis's generated tests did under pytest 9.
TWINS_CONFTEST = """
import pytest

class Twin(pytest.Item):
    def runtest(self):
        pass

class TwinFile(pytest.File):
    def collect(self):
        yield Twin.from_parent(self, name="twin")
        yield Twin.from_parent(self, name="twin")

def pytest_collect_file(parent, file_path):
    if file_path.name == "twins.txt":
        return TwinFile.from_parent(parent, path=file_path)
"""

# A plugin that claims one test's run protocol and never runs or reports it.
SWALLOW_CONFTEST = """
def pytest_runtest_protocol(item, nextitem):
    if item.name == "test_swallowed":
        return True
"""

HEALTHY_SUITE = """
import pytest

def test_passes():
    pass

def test_fails():
    assert False

@pytest.mark.skip(reason="counted as run: it was reported")
def test_skipped():
    pass

def test_skips_itself():
    pytest.skip("also reported")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
"""

# A document with three operations; schemathesis makes one test of each.
OPENAPI = """
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses: {"200": {description: ok}}
  /b:
    get:
      responses: {"200": {description: ok}}
    post:
      responses: {"200": {description: ok}}
"""
GENERATED_SUITE = """
import pathlib
import schemathesis
from hypothesis import settings

schema = schemathesis.openapi.from_path(pathlib.Path(__file__).parent / "api.yaml")

@schema.parametrize()
@settings(max_examples=1, database=None)
def test_operation(case):
    assert case.operation is not None
"""


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the inner sessions (and their xdist workers) import the ``tests`` plugins, and
    load only the plugins they name (the installed ones take seconds per process)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_two_tests_with_one_node_id_fail_the_session(pytester, importable):
    pytester.makeconftest(TWINS_CONFTEST)
    pytester.makefile(".txt", twins="")

    result = pytester.runpytest(*GUARD)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 tests share the node id twins.txt::twin*"])


def test_a_collected_test_that_never_ran_fails_the_session(pytester, importable):
    pytester.makeconftest(SWALLOW_CONFTEST)
    pytester.makepyfile(test_some="def test_runs():\n    pass\n\ndef test_swallowed():\n    pass\n")

    result = pytester.runpytest(*GUARD)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*1 of 2 collected tests ran*",
            "collected but never ran: test_some.py::test_swallowed",
        ]
    )


def test_failed_skipped_and_xfailed_tests_count_as_run(pytester, importable):
    pytester.makepyfile(test_suite=HEALTHY_SUITE)

    result = pytester.runpytest(*GUARD)

    result.assert_outcomes(passed=1, failed=1, skipped=2, xfailed=1)
    assert "never ran" not in result.stdout.str()
    assert "collected tests ran" not in result.stdout.str()


def test_a_duplicated_node_id_fails_the_session_under_xdist_loadfile(pytester, importable):
    pytester.makeconftest(TWINS_CONFTEST)
    pytester.makefile(".txt", twins="")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")

    result = pytester.runpytest_subprocess(*GUARD, *XDIST)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 tests share the node id twins.txt::twin*"])


def test_an_interrupted_session_is_not_blamed_for_the_tests_it_did_not_reach(pytester, importable):
    pytester.makepyfile(
        test_suite="def test_fails():\n    assert False\n\ndef test_later():\n    pass\n"
    )

    result = pytester.runpytest(*GUARD, "-x")

    result.assert_outcomes(failed=1)
    assert "never ran" not in result.stdout.str()


def test_each_generated_schemathesis_test_gets_its_own_node_id(pytester, importable):
    pytester.makefile(".yaml", api=OPENAPI)
    pytester.makepyfile(test_api=GENERATED_SUITE)

    ran = pytester.runpytest_subprocess(*SCHEMATHESIS, *GUARD, *XDIST, "-rA")

    ran.stdout.fnmatch_lines_random(
        [
            "PASSED test_api.py::test_operation[[]GET /a[]]",
            "PASSED test_api.py::test_operation[[]GET /b[]]",
            "PASSED test_api.py::test_operation[[]POST /b[]]",
        ]
    )
    assert ran.ret == pytest.ExitCode.OK
    ran.assert_outcomes(passed=3)


def test_without_their_own_ids_generated_schemathesis_tests_are_caught(pytester, importable):
    pytester.makefile(".yaml", api=OPENAPI)
    pytester.makepyfile(test_api=GENERATED_SUITE)

    result = pytester.runpytest_subprocess("-p", "schemathesis", *GUARD, *XDIST)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*3 tests share the node id test_api.py::test_operation*"])
