"""Reasoning formats behind one name table, and ``auto``, which recognises them all.

Each format lives in its own module; they share the split rule of ``base.TagFormat``.
"""

from __future__ import annotations

import re

from .base import EMPTY, MISSING, STATUSES, TRUNCATED, UNSEEN, VALID, Split, TagFormat, code_spans
from .bracket import BracketFormat
from .custom import CustomFormat
from .harmony import HarmonyFormat
from .think import ThinkFormat, split_plain

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
            plain = split_plain(text)
            if plain is not None:
                return plain
            spans = code_spans(text)
        m = self._first_delimiter(text, 0)
        while m is not None and spans is not None and spans.covers(m.start()):
            m = self._first_delimiter(text, m.start() + 1)
        if m is None:
            if "assistantfinal" in text:  # harmony decoded without its special tokens
                return FORMATS["harmony"].split(text, prefixed, spans)
            return self.default.split(text, prefixed, spans)
        return self.formats[int(m.lastgroup[1:])].split(text, prefixed, spans)

    def _first_delimiter(self, text: str, pos: int):
        # The combined pattern's scoped flags leave sre no literal to scan for, so searching
        # with it costs ~24 ns/char; every delimiter starts with "<" or "[": hop between those.
        find, match = text.find, self._any.match
        angle, bracket = find("<", pos), find("[", pos)
        while angle >= 0 or bracket >= 0:
            at = angle if bracket < 0 or 0 <= angle < bracket else bracket
            m = match(text, at)
            if m is not None:
                return m
            if at == angle:
                angle = find("<", at + 1)
            else:
                bracket = find("[", at + 1)
        return None

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
