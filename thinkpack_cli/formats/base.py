"""The one classification rule shared by every reasoning format.

A block opened (or prefixed by the prompt) and closed with non-blank content is
``valid``; closed but blank is ``empty``; opened and never closed is
``truncated`` (its answer is empty: an unclosed trace is no answer); no block
at all is ``missing``. Delimiters inside closed code spans (fenced blocks or
inline code) are content, not delimiters.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

VALID = "valid"
EMPTY = "empty"
TRUNCATED = "truncated"
MISSING = "missing"
STATUSES = (VALID, EMPTY, TRUNCATED, MISSING)


@dataclass(frozen=True, slots=True)
class Split:
    """A text split into reasoning and answer."""

    reasoning: str | None
    answer: str
    status: str
    format: str | None = None
    tag: str | None = None


# Closed fenced blocks (``` or ~~~, closed by a fence at least as long) and
# closed inline code on one line. An unclosed fence hides nothing: a model that
# opens ``` in its reasoning and then closes the block must still be seen closing.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?^ {0,3}\1[`~]*[ \t]*$", re.M | re.S)
_INLINE = re.compile(r"(?<!`)(`+)(?!`)[^\n]+?(?<!`)\1(?!`)")


class CodeSpans:
    """Character ranges of closed code spans, for membership tests by position."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, text: str):
        spans = [m.span() for m in _FENCE.finditer(text)]
        fenced = list(spans)
        for m in _INLINE.finditer(text):
            if not _inside(fenced, m.start()):
                spans.append(m.span())
        spans.sort()
        self._starts = [s for s, _ in spans]
        self._ends = [e for _, e in spans]

    def covers(self, pos: int) -> bool:
        i = bisect.bisect_right(self._starts, pos) - 1
        return i >= 0 and pos < self._ends[i]


def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    return any(s <= pos < e for s, e in spans)


def code_spans(text: str) -> CodeSpans | None:
    """Code spans of ``text``, or None when it has no backtick or tilde fence at all."""
    if "`" not in text and "~~~" not in text:
        return None
    return CodeSpans(text)


def first_outside(pattern: re.Pattern, text: str, pos: int, spans: CodeSpans | None):
    """First match of ``pattern`` at or after ``pos`` that is not inside code."""
    m = pattern.search(text, pos)
    while m is not None and spans is not None and spans.covers(m.start()):
        m = pattern.search(text, m.start() + 1)
    return m


def _status(reasoning: str) -> str:
    return VALID if reasoning else EMPTY


class TagFormat:
    """A reasoning block between an opening and a closing delimiter.

    ``open_pattern`` and ``close_pattern`` are regular-expression sources; a
    subclass may tie the close to the open it saw (``close_after``) and shape
    the answer region (``answer_from``).
    """

    name: str = ""
    open_pattern: str = ""
    close_pattern: str = ""
    flags: int = 0

    def __init__(self) -> None:
        self.open_re = re.compile(self.open_pattern, self.flags)
        self.close_re = re.compile(self.close_pattern, self.flags)

    def close_after(self, open_match: re.Match) -> re.Pattern:
        """The closing delimiter that ends a block opened by ``open_match``."""
        return self.close_re

    def answer_from(self, rest: str) -> str:
        """The answer within the text that follows a closed block (or a text with none)."""
        return rest.strip()

    def split(self, text: str, prefixed: bool | None = None, spans: CodeSpans | None = None) -> Split:
        """Split ``text``; ``prefixed`` says the prompt opened a block (None: infer it).

        Auto inference treats a closing delimiter seen before any opening one as
        the close of a block the prompt opened (DeepSeek-R1-Distill, QwQ).
        Reasoning is the first block; everything after its close is the answer,
        later blocks included, as vLLM's parsers do.
        """
        if spans is None:
            spans = code_spans(text)
        opened = first_outside(self.open_re, text, 0, spans)
        if prefixed:
            # The model may repeat the opening tag the prompt already holds.
            if opened is not None and text[: opened.start()].strip():
                opened = None
            start = opened.end() if opened is not None else 0
            return self._close(text, start, self.close_re if opened is None else self.close_after(opened), spans, opened)
        closed = first_outside(self.close_re, text, 0, spans)
        if opened is not None and (closed is None or opened.start() < closed.start() or prefixed is False):
            return self._close(text, opened.end(), self.close_after(opened), spans, opened)
        if closed is not None and prefixed is None:
            return self._close(text, 0, self.close_re, spans, None)
        return Split(None, self.answer_from(text), MISSING)

    def _close(self, text, start, close_re, spans, opened) -> Split:
        tag = opened.group(0) if opened is not None else None
        closed = first_outside(close_re, text, start, spans)
        if closed is None:
            return Split(text[start:].strip(), "", TRUNCATED, self.name, tag)
        reasoning = text[start : closed.start()].strip()
        if tag is None:
            tag = closed.group(0)
        return Split(reasoning, self.answer_from(text[closed.end() :]), _status(reasoning), self.name, tag)

    def opens(self, prompt: str) -> bool:
        """Whether ``prompt`` ends inside a block of this format (its last delimiter opens one)."""
        last_open = _last(self.open_re, prompt)
        if last_open is None:
            return False
        return self.close_after(last_open).search(prompt, last_open.end()) is None


def _last(pattern: re.Pattern, text: str):
    last = None
    for last in pattern.finditer(text):
        pass
    return last
