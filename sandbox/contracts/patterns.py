"""Does one ``pattern`` accept every string another accepts?  Decided for common shapes.

A JSON Schema ``pattern`` is an ECMA-262 regular expression searched anywhere in the
string.  For the shapes contracts use (literals, escapes such as ``\\d``, character
classes with ranges or negation, ``.``, groups, alternation, the quantifiers ``? * +
{n} {n,} {n,m}`` and the anchors ``^``/``$`` at the ends of the pattern or of its
top-level branches) the language is regular, so inclusion is decided exactly: both
patterns become automata over code-point ranges and a breadth-first walk of their
subset constructions looks for a string one accepts and the other does not.

Anything else (lookaround, backreferences, word boundaries, anchors in the middle, an
automaton past :data:`MAX_STATES`) is *undecided*: :func:`relation` returns None and
the diff reports it as such instead of guessing.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any

SAME = "same"
NARROWER = "narrower"  # the new pattern accepts a strict subset of the old one's strings
WIDER = "wider"
INCOMPARABLE = "incomparable"

MAX_STATES = 5000
MAX_PAIRS = 50_000
_TOP = 0x10FFFF

Ranges = tuple[tuple[int, int], ...]


class Unsupported(Exception):
    """The pattern uses something this module does not model."""


def relation(old: str, new: str) -> str | None:
    """How the strings ``new`` accepts relate to those ``old`` accepts; None if undecided."""
    if old == new:
        return SAME
    try:
        for text in (old, new):
            re.compile(text)
        a, b = _Automaton.of(old), _Automaton.of(new)
        old_in_new, new_in_old = a.included_in(b), b.included_in(a)
    except (Unsupported, re.error, RecursionError):
        return None
    if old_in_new and new_in_old:
        return SAME
    if new_in_old:
        return NARROWER
    return WIDER if old_in_new else INCOMPARABLE


# -- character sets -------------------------------------------------------------------


def _normal(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: Ranges) -> Ranges:
    out, start = [], 0
    for lo, hi in _normal(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _TOP:
        out.append((start, _TOP))
    return tuple(out)


def _chars(text: str) -> Ranges:
    return _normal((ord(c), ord(c)) for c in text)


_DIGIT = ((0x30, 0x39),)
_WORD = _normal([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
_SPACE = _normal(
    [*_chars("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"), (0x2000, 0x200A)]
)
_CLASS_ESCAPES = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "w": _WORD,
    "W": _complement(_WORD),
    "s": _SPACE,
    "S": _complement(_SPACE),
}
_CONTROL_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
_ANY_BUT_NEWLINE = _complement(_chars("\n\r\u2028\u2029"))  # ECMA's "."
_ANY = ((0, _TOP),)

# -- parsing: a tree of ("chars", ranges), ("seq", [...]), ("alt", [...]),
#    ("repeat", node, min, max-or-None) ------------------------------------------------

Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise Unsupported("unexpected end of pattern")
        self.at += 1
        return char

    def top(self) -> Node:
        """Top-level branches, each with its own anchors (an unanchored end is ``.*``)."""
        branches = []
        while True:
            anchored_start = self.peek() == "^"
            self.at += anchored_start
            seq = self.sequence(top=True)
            anchored_end = self.peek() == "$"
            self.at += anchored_end
            parts: list[Node] = [] if anchored_start else [("repeat", ("chars", _ANY), 0, None)]
            parts.append(seq)
            if not anchored_end:
                parts.append(("repeat", ("chars", _ANY), 0, None))
            branches.append(("seq", parts))
            if self.peek() != "|":
                break
            self.at += 1
        if self.at != len(self.text):
            raise Unsupported(f"cannot read the pattern past position {self.at}")
        return ("alt", branches)

    def alternation(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return ("alt", branches)

    def sequence(self, top: bool = False) -> Node:
        items = []
        while self.peek() and self.peek() not in "|)":
            if top and self.peek() == "$" and self.text[self.at + 1 : self.at + 2] in ("", "|"):
                break  # the end anchor of a top-level branch
            items.append(self.quantified(self.atom()))
        return ("seq", items)

    def atom(self) -> Node:
        char = self.take()
        if char == "(":
            if self.peek() == "?":
                if self.text[self.at : self.at + 2] != "?:":
                    raise Unsupported("lookaround and named groups are not modelled")
                self.at += 2
            inner = self.alternation()
            if self.take() != ")":
                raise Unsupported("unbalanced group")
            return inner
        if char == "[":
            return ("chars", self.char_class())
        if char == ".":
            return ("chars", _ANY_BUT_NEWLINE)
        if char == "\\":
            return ("chars", self.escape(in_class=False))
        if char in "^$":
            raise Unsupported("an anchor inside the pattern")
        if char in "*+?)":
            raise Unsupported(f"unexpected {char!r}")
        return ("chars", ((ord(char), ord(char)),))

    def escape(self, in_class: bool) -> Ranges:
        char = self.take()
        if char in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[char]
        if char in _CONTROL_ESCAPES:
            return _chars(_CONTROL_ESCAPES[char])
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = self.text[self.at : self.at + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise Unsupported(f"\\{char} needs {width} hex digits")
            self.at += width
            return ((int(digits, 16), int(digits, 16)),)
        if char == "b" and in_class:
            return _chars("\b")
        if char.isalnum():
            raise Unsupported(f"escape \\{char} is not modelled")
        return _chars(char)

    def char_class(self) -> Ranges:
        negated = self.peek() == "^"
        self.at += negated
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self.peek() != "]":
            first = False
            lo = self.class_atom()
            if self.peek() == "-" and self.text[self.at + 1 : self.at + 2] not in ("]", ""):
                self.at += 1
                hi = self.class_atom()
                if len(lo) != 1 or len(hi) != 1 or lo[0][0] != lo[0][1] or hi[0][0] != hi[0][1]:
                    raise Unsupported("a range between classes")
                if lo[0][0] > hi[0][0]:
                    raise Unsupported("a reversed range")
                ranges.append((lo[0][0], hi[0][0]))
            else:
                ranges.extend(lo)
        self.take()  # the closing "]"
        return _complement(tuple(ranges)) if negated else _normal(ranges)

    def class_atom(self) -> Ranges:
        char = self.take()
        return self.escape(in_class=True) if char == "\\" else ((ord(char), ord(char)),)

    def quantified(self, node: Node) -> Node:
        bounds = self.quantifier()
        if bounds is None:
            return node
        if self.peek() == "?":
            self.at += 1  # a lazy quantifier matches the same strings
        return ("repeat", node, *bounds)

    def quantifier(self) -> tuple[int, int | None] | None:
        char = self.peek()
        if char and char in "*+?":
            self.at += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        found = re.match(r"\{(\d+)(,(\d*))?\}", self.text[self.at :])
        if char != "{" or not found:
            return None  # a "{" that starts no quantifier is a literal (ECMA annex B)
        self.at += found.end()
        low = int(found.group(1))
        high = low if found.group(2) is None else (int(found.group(3)) if found.group(3) else None)
        if high is not None and high < low:
            raise Unsupported("a quantifier with max < min")
        return low, high


# -- automata -------------------------------------------------------------------------


class _Automaton:
    """A non-deterministic automaton whose edges carry code-point ranges (None: epsilon)."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[Ranges | None, int]]] = []
        self.accept = 0

    @classmethod
    def of(cls, pattern: str) -> _Automaton:
        automaton = cls()
        start = automaton.state()
        automaton.accept = automaton.build(_Parser(pattern).top(), start)
        return automaton

    def state(self) -> int:
        if len(self.edges) >= MAX_STATES:
            raise Unsupported("the automaton is too large")
        self.edges.append([])
        return len(self.edges) - 1

    def build(self, node: Node, start: int) -> int:
        """Add ``node`` from ``start``; returns the state where it ends."""
        kind = node[0]
        if kind == "chars":
            end = self.state()
            self.edges[start].append((node[1], end))
            return end
        if kind == "seq":
            for item in node[1]:
                start = self.build(item, start)
            return start
        if kind == "alt":
            end = self.state()
            for branch in node[1]:
                self.edges[self.build(branch, start)].append((None, end))
            return end
        _, inner, low, high = node
        for _ in range(low):
            start = self.build(inner, start)
        if high is None:
            loop = self.state()
            self.edges[start].append((None, loop))
            self.edges[self.build(inner, loop)].append((None, loop))
            return loop
        end = self.state()
        for _ in range(high - low):
            self.edges[start].append((None, end))
            start = self.build(inner, start)
        self.edges[start].append((None, end))
        return end

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(todo)
        while todo:
            for ranges, target in self.edges[todo.pop()]:
                if ranges is None and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return frozenset(seen)

    def step(self, states: frozenset[int], code: int) -> frozenset[int]:
        return self.closure(
            target
            for s in states
            for ranges, target in self.edges[s]
            if ranges is not None and any(lo <= code <= hi for lo, hi in ranges)
        )

    def boundaries(self, states: frozenset[int]) -> set[int]:
        return {
            point
            for s in states
            for ranges, _ in self.edges[s]
            for lo, hi in ranges or ()
            for point in (lo, hi + 1)
        }

    def included_in(self, other: _Automaton) -> bool:
        """True when every string this automaton accepts, ``other`` accepts too."""
        first = (self.closure([0]), other.closure([0]))
        seen, todo = {first}, deque([first])
        while todo:
            mine, theirs = todo.popleft()
            if self.accept in mine and other.accept not in theirs:
                return False
            points = sorted(self.boundaries(mine) | other.boundaries(theirs))
            for code in points:  # one representative per stretch that behaves alike
                pair = (self.step(mine, code), other.step(theirs, code))
                if pair[0] and pair not in seen:
                    if len(seen) >= MAX_PAIRS:
                        raise Unsupported("too many states to compare")
                    seen.add(pair)
                    todo.append(pair)
        return True
