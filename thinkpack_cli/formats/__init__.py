"""Reasoning formats behind one name table, and ``auto``, which recognises them all.

Each format lives in its own module; they share the split rule of ``base.TagFormat``.
"""

from __future__ import annotations

import re

from .base import EMPTY, MISSING, STATUSES, TRUNCATED, UNSEEN, VALID, Split, TagFormat, code_spans
from .bracket import BracketFormat
from .custom import CustomFormat
from .harmony import HarmonyFormat
from .think import ThinkFormat

__all__ = [
    "EMPTY", "MISSING", "STATUSES", "TRUNCATED", "VALID", "FORMATS", "AutoFormat",
    "CustomFormat", "Split", "TagFormat", "get_format", "prompt_opens_reasoning",
]

FORMATS: dict[str, TagFormat] = {f.name: f for f in (ThinkFormat(), BracketFormat(), HarmonyFormat())}


class AutoFormat:
    """Picks, per text, the format whose delimiter comes first outside code."""

    name = "auto"

    def __init__(self, formats: dict[str, TagFormat] = FORMATS, default: str = "think") -> None:
        self.formats = list(formats.values())
        self.default = formats[default]
        # One scan finds the first delimiter of any format; the group name says whose.
        self._any = re.compile(
            "|".join(
                f"(?P<f{i}>(?{_flags(f)}:{f.open_pattern}|{f.close_pattern}))".replace("?P<name>", "?:")
                for i, f in enumerate(self.formats)
            )
        )

    def split(self, text: str, prefixed: bool | None = None, spans=UNSEEN) -> Split:
        if spans is UNSEEN:
            spans = code_spans(text)
        m = self._any.search(text)
        while m is not None and spans is not None and spans.covers(m.start()):
            m = self._any.search(text, m.start() + 1)
        if m is None:
            if "assistantfinal" in text:  # harmony decoded without its special tokens
                return FORMATS["harmony"].split(text, prefixed, spans)
            return self.default.split(text, prefixed, spans)
        return self.formats[int(m.lastgroup[1:])].split(text, prefixed, spans)

    def opens(self, prompt: str) -> bool:
        return prompt_opens_reasoning(prompt) is not None


def _flags(fmt: TagFormat) -> str:
    return "i" if fmt.flags & re.IGNORECASE else "-i"


def prompt_opens_reasoning(prompt: str) -> TagFormat | None:
    """The format whose block ``prompt`` ends inside of (a prefixed prompt), or None."""
    if "<" not in prompt and "[" not in prompt:  # no format's delimiter can be there: skip the scans
        return None
    for fmt in FORMATS.values():
        if fmt.opens(prompt):
            return fmt
    return None


def get_format(name: str = "auto", open_tag: str | None = None, close_tag: str | None = None):
    """The format called ``name``; ``--open``/``--close`` make a custom one."""
    if open_tag is not None or close_tag is not None:
        return CustomFormat(open_tag or "", close_tag or "")
    if name == "auto":
        return AutoFormat()
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; choose from auto, {', '.join(FORMATS)}") from None
