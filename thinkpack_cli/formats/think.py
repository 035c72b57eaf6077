"""The ``<think>`` family: ``<think>``, ``<thinking>``, ``<reasoning>``, ``<thought>`` and
ByteDance Seed's ``<seed:think>``, in any case (Marco-o1 writes ``<Thought>``), with or without
attributes (``<think type="…">``). A block closes with the closing tag of the name that opened it.
An answer wrapped in ``<answer>`` (DeepSeek-R1-Zero's template) or ``<Output>`` (Marco-o1) is its body."""

from __future__ import annotations

import re

from .base import EMPTY, TOOL_CALLS, TRUNCATED, UNSEEN, VALID, Split, TagFormat, stripped

_NAMES = ("think", "thinking", "reasoning", "thought", "seed:think")
_ALTERNATIVES = "|".join(_NAMES)
# sre scans for a literal at ~0.3 ns/char; str.find takes ~1.4 ns/char on the non-ASCII text
# nearly every reasoning trace is (a ×, √ or π is enough). What may start a delimiter, a tool
# call or a wrapper: a closing tag, a tag name, a `<|`/`<｜` special token.
_PLAIN_STOP = re.compile("<[/a-zA-Z|｜]")


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
    starts with ``<think>``, holds no code, whose first tag-like ``<`` closes the block and
    whose answer holds none (no second block, repeated close, tool call or wrapper)."""
    if not text.startswith("<think>") or "`" in text or "~" in text:
        return None
    stop = _PLAIN_STOP.search(text, 7)
    if stop is None:
        return Split(stripped(text, 7), "", TRUNCATED, "think", "<think>")
    close = stop.start()
    if not text.startswith("</think>", close) or _PLAIN_STOP.search(text, close + 8) is not None:
        return None
    reasoning = stripped(text, 7, close)
    return Split(reasoning, stripped(text, close + 8), VALID if reasoning else EMPTY, "think", "<think>")
