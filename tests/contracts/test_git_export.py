"""``export_git_ref`` puts a ref's contracts beside the working tree for ``contracts diff``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.contracts import DiffError, diff_contracts, export_git_ref
from sandbox.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_UNDECIDED
from tests.contracts.helpers import REPO_CONTRACTS, edit_json

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("before contracts\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "no contracts yet")
    git(root, "tag", "empty")
    shutil.copytree(REPO_CONTRACTS, root / "contracts")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "contracts")
    return root


def test_exported_ref_diffs_against_the_edited_working_tree(repo: Path, tmp_path: Path) -> None:
    edit_json(
        repo / "contracts/events/payment.failed.schema.json",
        lambda s: s["required"].remove("error"),
    )
    base = export_git_ref(repo, "HEAD", tmp_path / "export")
    [change] = diff_contracts(base, repo / "contracts").changes
    assert (change.rule, change.location) == ("field-made-optional", "payment.failed $.error")


def test_a_ref_before_the_contracts_existed_makes_everything_new(
    repo: Path, tmp_path: Path
) -> None:
    base = export_git_ref(repo, "empty", tmp_path / "export")
    assert list(base.iterdir()) == []
    report = diff_contracts(base, repo / "contracts")
    assert not report.breaking
    assert {c.rule for c in report.changes} >= {"event-added", "routing-key-added", "queue-added"}


def test_an_unknown_ref_is_a_diff_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(DiffError, match="not a commit"):
        export_git_ref(repo, "no-such-branch", tmp_path / "export")


def diff_exit(repo: Path, *extra: str) -> int:
    return main(
        ["contracts", "diff", "HEAD", "--repo", str(repo), "--dir", str(repo / "contracts"), *extra]
    )


def currency_pattern(repo: Path, pattern: str) -> None:
    edit_json(
        repo / "contracts/events/common.schema.json",
        lambda s: s["$defs"]["currency"].update(pattern=pattern),
    )


def test_diff_exits_0_and_names_the_ref_when_nothing_changed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert diff_exit(repo) == EXIT_OK
    assert capsys.readouterr().out.startswith("no contract changes between HEAD and ")


def test_diff_exits_1_on_a_breaking_change(repo: Path) -> None:
    currency_pattern(repo, "^(USD|EUR)$")
    assert diff_exit(repo) == EXIT_FAILED


def test_diff_exits_4_when_a_change_cannot_be_decided(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    currency_pattern(repo, "^(?!XXX)[A-Z]{3}$")
    assert diff_exit(repo, "--json") == EXIT_UNDECIDED
    report = json.loads(capsys.readouterr().out)
    assert (report["base"], report["verdict"]) == ("HEAD", "undecided")
