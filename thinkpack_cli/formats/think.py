"""The ``<think>`` family: ``<think>``, ``<thinking>``, ``<reasoning>``, ``<thought>`` and
ByteDance Seed's ``<seed:think>``, in any case (Marco-o1 writes ``<Thought>``), with or without
attributes (``<think type="…">``). A block closes with the closing tag of the name that opened it.
An answer wrapped in ``<answer>`` (DeepSeek-R1-Zero's template) or ``<Output>`` (Marco-o1) is its body."""

from __future__ import annotations

import re

from .base import EMPTY, TOOL_CALLS, TRUNCATED, UNSEEN, VALID, Split, TagFormat, stripped

_NAMES = ("think", "thinking", "reasoning", "thought", "seed:think")
_ALTERNATIVES = "|".join(_NAMES)
# What may start a delimiter, a tool call or a wrapper after a `<`: a closing tag, a tag name,
# a `<|`/`<｜` special token. Anything else (`x < 5`) is text the one-scan path steps over.
_TAG_START = frozenset("/|｜abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# The wrapper with no `<` inside: one charset run for sre (a `<` in it sends the text to the rule).
_WRAPPED_ANSWER = re.compile(r"\s*<answer>([^<]*)(?:</answer>\s*)?\Z")


class ThinkFormat(TagFormat):
    name = "think"
    open_pattern = rf"<(?P<name>{_ALTERNATIVES})(?:\s+[a-zA-Z_][^<>]*)?>"
    close_pattern = rf"</(?:{_ALTERNATIVES})>"
    tool_call_pattern = TOOL_CALLS
    flags = re.IGNORECASE
    rendered_open, rendered_close = "<think>\n", "\n</think>\n\n"
    answer_wrappers = ("answer", "output")

    def __init__(self) -> None:
        super().__init__()
        self._close_by_name = {n: re.compile(rf"</{re.escape(n)}>", re.IGNORECASE) for n in _NAMES}

    def close_after(self, open_match: re.Match) -> re.Pattern:
        return self._close_by_name[open_match.group("name").lower()]

    def split(self, text, prefixed=None, spans=UNSEEN) -> Split:
        return (spans is UNSEEN and split_plain(text)) or super().split(text, prefixed, spans)


def split_plain(text: str) -> Split | None:
    """The common case in one scan, or None when the general rule must decide: a text that
    starts with ``<think>``, holds no code, whose first delimiter closes the block (other tags
    inside it, ``<answer>`` or ``<math>``, are its text to the rule too) and whose answer holds
    no tag-like ``<`` (no second block, repeated close, tool call or other wrapper) but an
    ``<answer>`` wrapper around all of it."""
    if not text.startswith("<think>") or "`" in text or "~" in text:
        return None
    end = len(text)
    close = text.find("</think>", 7)
    # Most blocks hold no `<` at all: then the first `</think>` is the first delimiter, found by one find.
    if text.find("<", 7, end if close < 0 else close) >= 0 and _next_delimiter(text, 7) != close:
        return None
    if close < 0:
        return Split(stripped(text, 7), "", TRUNCATED, "think", "<think>")
    start = close + 8
    if (
        text.find("<", start) >= 0
    ):  # of tags in the answer, only an `<answer>` wrapper around all of it (R1-Zero) stays here
        wrapped = _WRAPPED_ANSWER.match(text, start)
        if wrapped is not None:
            start, end = wrapped.span(1)
        elif _next_tag(text, start) >= 0:
            return None
    reasoning = stripped(text, 7, close)
    return Split(reasoning, stripped(text, start, end), VALID if reasoning else EMPTY, "think", "<think>")


def _next_delimiter(text: str, pos: int) -> int:
    """Where the next open, close or tool-call start of the family is, or -1; the delimiter
    pattern is tried only at tag-like ``<`` (a match at one place, not a search)."""
    match = _DELIMITER.match
    at = _next_tag(text, pos)
    while at >= 0 and match(text, at) is None:
        at = _next_tag(text, at + 1)
    return at


def _next_tag(text: str, pos: int) -> int:
    """Where the next tag-like ``<`` is (str.find hops: far faster than a regex scan), or -1."""
    find = text.find
    at = find("<", pos)
    while at >= 0 and text[at + 1 : at + 2] not in _TAG_START:
        at = find("<", at + 1)
    return at


_DELIMITER = ThinkFormat().delimiter_re
