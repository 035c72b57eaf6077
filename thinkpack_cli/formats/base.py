"""The one classification rule shared by every reasoning format.

A block opened (or prefixed by the prompt) and closed with non-blank content is
``valid``; closed but blank is ``empty``; opened and never closed is
``truncated`` (its answer is empty: an unclosed trace is no answer); no block
at all is ``missing``. Delimiters inside closed code spans (fenced blocks or
inline code) are content, not delimiters.
"""

from __future__ import annotations

import re
from typing import NamedTuple

VALID = "valid"
EMPTY = "empty"
TRUNCATED = "truncated"
MISSING = "missing"
STATUSES = (VALID, EMPTY, TRUNCATED, MISSING)


class Split(NamedTuple):
    """A text split into reasoning and answer (a tuple: made for every sample, so cheap)."""

    reasoning: str | None
    answer: str
    status: str
    format: str | None = None
    tag: str | None = None


# Closed fenced blocks (``` or ~~~, closed by a bare fence of the same character at
# least as long) and closed inline code within one line. An unclosed fence hides
# nothing: a model that opens ``` in its reasoning and then closes the block must
# still be seen closing.
_BACKTICKS = re.compile(r"`+")


class CodeSpans:
    """Whether a position lies inside closed code. Looks only where it is asked:
    the fences of the text (found once, by substring search) and the asked position's line."""

    __slots__ = ("_text", "_fences")

    def __init__(self, text: str):
        self._text = text
        self._fences: list[tuple[int, int]] | None = None

    def covers(self, pos: int) -> bool:
        if self._fences is None:
            self._fences = _fenced_blocks(self._text)
        if any(start <= pos < end for start, end in self._fences):
            return True
        return _in_inline_code(self._text, pos)


def _fenced_blocks(text: str) -> list[tuple[int, int]]:
    fence_lines = []
    for marker in ("```", "~~~"):
        i = text.find(marker)
        while i != -1:
            line_start = text.rfind("\n", 0, i) + 1
            line_end = text.find("\n", i)
            line_end = len(text) if line_end == -1 else line_end
            if i - line_start <= 3 and not text[line_start:i].strip(" "):
                run = len(text[i:line_end]) - len(text[i:line_end].lstrip(marker[0]))
                bare = not text[i + run : line_end].strip()
                fence_lines.append((line_start, line_end, marker[0], run, bare))
            i = text.find(marker, line_end)
    fence_lines.sort()
    blocks, opened = [], None
    for line_start, line_end, char, run, bare in fence_lines:
        if opened is None:
            opened = (line_start, char, run)
        elif char == opened[1] and run >= opened[2] and bare:
            blocks.append((opened[0], line_end))
            opened = None
    return blocks


def _in_inline_code(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    runs = [m.span() for m in _BACKTICKS.finditer(text, line_start, len(text) if line_end == -1 else line_end)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        # A run of n backticks opens code closed by the next run of exactly n.
        close = next((j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start), None)
        if close is None:
            i += 1
            continue
        if start <= pos < runs[close][1]:
            return True
        i = close + 1
    return False


def code_spans(text: str) -> CodeSpans | None:
    """A code-span checker for ``text``, or None when it has no backtick or tilde fence at all."""
    if "`" not in text and ("~" not in text or "~~~" not in text):  # one character is found ~6× faster
        return None
    return CodeSpans(text)


def first_outside(pattern: re.Pattern, text: str, pos: int, spans: CodeSpans | None, endpos: int | None = None):
    """First match of ``pattern`` in ``text[pos:endpos]`` that is not inside code."""
    end = len(text) if endpos is None else endpos
    m = pattern.search(text, pos, end)
    while m is not None and spans is not None and spans.covers(m.start()):
        m = pattern.search(text, m.start() + 1, end)
    return m


# Passed as ``spans`` when the caller has not looked for code yet.
UNSEEN = object()


def _status(reasoning: str) -> str:
    return VALID if reasoning else EMPTY


_LEADING_SPACE = re.compile(r"\s*")


def stripped(text: str, start: int = 0, end: int | None = None) -> str:
    """``text[start:end].strip()`` with one copy instead of two (texts run to many KB)."""
    end = len(text) if end is None else end
    start = _LEADING_SPACE.match(text, start, end).end()
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end]


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

    def answer_from(self, text: str, start: int = 0) -> str:
        """The answer within ``text[start:]``, what follows a closed block (or a text with none)."""
        return stripped(text, start)

    def split(self, text: str, prefixed: bool | None = None, spans=UNSEEN) -> Split:
        """Split ``text``; ``prefixed`` says the prompt opened a block (None: infer it).

        Auto inference treats a closing delimiter seen before any opening one as
        the close of a block the prompt opened (DeepSeek-R1-Distill, QwQ).
        Reasoning is the first block; everything after its close is the answer,
        later blocks included, as vLLM's parsers do.
        """
        if spans is UNSEEN:
            spans = code_spans(text)
        opened = first_outside(self.open_re, text, 0, spans)
        if prefixed and opened is not None and text[: opened.start()].strip():
            opened = None  # a later opening tag is content; only a repeat of the prompt's own counts
        if opened is None:
            if prefixed is False:
                return Split(None, self.answer_from(text), MISSING)
            closed = first_outside(self.close_re, text, 0, spans)
            if closed is None and not prefixed:
                return Split(None, self.answer_from(text), MISSING)
            return self._closed_at(text, 0, closed, None)
        if prefixed is None:
            early = first_outside(self.close_re, text, 0, spans, opened.start())
            if early is not None:
                return self._closed_at(text, 0, early, None)
        closed = first_outside(self.close_after(opened), text, opened.end(), spans)
        return self._closed_at(text, opened.end(), closed, opened)

    def _closed_at(self, text: str, start: int, closed: re.Match | None, opened: re.Match | None) -> Split:
        """The split of a block whose reasoning starts at ``start`` and ends at ``closed`` (None: never)."""
        tag = opened.group(0) if opened is not None else None
        if closed is None:
            return Split(stripped(text, start), "", TRUNCATED, self.name, tag)
        reasoning = stripped(text, start, closed.start())
        return Split(reasoning, self.answer_from(text, closed.end()), _status(reasoning), self.name, tag or closed.group(0))

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
