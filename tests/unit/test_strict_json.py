"""Strict JSON bodies: one meaning per document, or a JsonError that says why."""

from __future__ import annotations

import pytest

from sandbox.strict_json import MAX_DEPTH, JsonError, clip, loads


def test_plain_json_reads_as_json():
    assert loads(b'{"a": [1, 2.5, "x", null, true], "b": {"c": -0.0}}') == {
        "a": [1, 2.5, "x", None, True],
        "b": {"c": -0.0},
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": -Infinity}', "Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": "x\\ud800"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested"),
        (b"9" * 5000, "digits"),
        (b'{"a": 1', "Expecting"),
    ],
)
def test_ambiguous_or_unstorable_documents_are_refused(raw, reason):
    with pytest.raises(JsonError, match=reason):
        loads(raw)


def test_nesting_up_to_the_limit_is_read():
    depth = MAX_DEPTH
    assert loads("[" * depth + "]" * depth) is not None


def test_a_surrogate_pair_is_one_valid_character():
    assert loads(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_clip_marks_what_it_cut():
    assert clip("abc", 5) == "abc"
    assert clip("x" * 1000, 10) == "xxxxxxxxxx... (1000 characters)"
