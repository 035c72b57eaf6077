"""The ``<think>`` family: ``<think>``, ``<thinking>``, ``<reasoning>``, ``<thought>`` and
ByteDance Seed's ``<seed:think>``, in any case (Marco-o1 writes ``<Thought>``).
A block closes with the closing tag of the name that opened it."""

from __future__ import annotations

import re

from .base import EMPTY, TRUNCATED, UNSEEN, VALID, Split, TagFormat, stripped

_NAMES = r"(?:think|thinking|reasoning|thought|seed:think)"
# sre scans for a literal at ~0.3 ns/char; str.find("</") takes ~1.4 ns/char on the
# non-ASCII text nearly every reasoning trace is (a ×, √ or π is enough).
_CLOSE_START = re.compile("</")


class ThinkFormat(TagFormat):
    name = "think"
    open_pattern = rf"<(?P<name>{_NAMES})>"
    close_pattern = rf"</{_NAMES}>"
    flags = re.IGNORECASE

    def __init__(self) -> None:
        super().__init__()
        self._close_by_name = {
            n: re.compile(rf"</{re.escape(n)}>", re.IGNORECASE)
            for n in ("think", "thinking", "reasoning", "thought", "seed:think")
        }

    def close_after(self, open_match: re.Match) -> re.Pattern:
        return self._close_by_name[open_match.group("name").lower()]

    def split(self, text, prefixed=None, spans=UNSEEN) -> Split:
        return (spans is UNSEEN and split_plain(text)) or super().split(text, prefixed, spans)


def split_plain(text: str) -> Split | None:
    """The common case in one scan, or None when the general rule must decide: a text
    that starts with ``<think>``, holds no code, and whose first ``</`` closes the block."""
    if not text.startswith("<think>") or "`" in text or "~" in text:
        return None
    close = _CLOSE_START.search(text, 7)
    if close is None:
        return Split(stripped(text, 7), "", TRUNCATED, "think", "<think>")
    if not text.startswith("</think>", close.start()):
        return None
    reasoning = stripped(text, 7, close.start())
    return Split(reasoning, stripped(text, close.start() + 8), VALID if reasoning else EMPTY, "think", "<think>")
