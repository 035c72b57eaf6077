"""Reasoning formats: one module per format, one registry (``FORMATS``), and ``auto``.

A format is one file. It declares, on a ``TagFormat`` subclass:

- ``name``: its ``--format`` name (and ``Split.format``).
- its delimiters: ``open_pattern``, ``close_pattern`` (regex sources; compiled as ``open_re``,
  ``close_re``, and all together as ``delimiter_re``), ``flags``, ``close_after(open_match)`` when
  a close must match its opener, ``tool_call_pattern`` (tool-call starts that end an open block),
  ``answer_wrappers`` (tags whose body is the answer, e.g. ``<answer>``), ``first_chars``.
- its rendered form, as the family's template writes it: ``opening()`` (what a steering prompt
  ends with to open a block: ``"<think>\\n"``), ``closing()``, ``ending()``, and
  ``render(reasoning, answer) == opening() + reasoning + closing() + answer + ending()``.
- how ``auto`` finds it: the first of its delimiters outside code (``detect_pattern``), or
  ``detect_fallback(text)`` when no format's delimiter is there (harmony decoded without special
  tokens), or ``refine(split, text)`` for a format that shares another's delimiters (Granite's
  ``<response>`` after ``think``'s block).

Every format then has ``split(text, prefixed=None) -> Split`` (reasoning, answer, status, format,
tag; statuses ``VALID``, ``EMPTY``, ``TRUNCATED``, ``MISSING``) and ``opens(prompt) -> bool``
(the prompt's generation tail, after its last chat-markup token, opens a block still open).
``prompt_opens_reasoning(prompt)`` and ``AutoFormat`` derive from ``FORMATS``: adding a format is
adding its module and one entry below. ``get_format(name)`` looks one up.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import EMPTY, MISSING, STATUSES, TRUNCATED, UNSEEN, VALID, Split, TagFormat, code_spans, stripped
from .bracket import BracketFormat
from .custom import CustomFormat
from .gemma4 import Gemma4Format
from .granite import GraniteFormat
from .harmony import HarmonyFormat
from .kimi_vl import KimiVLFormat
from .tail import markup
from .think import ThinkFormat, split_plain

__all__ = [
    "EMPTY",
    "MISSING",
    "STATUSES",
    "TRUNCATED",
    "VALID",
    "FORMATS",
    "AutoFormat",
    "CustomFormat",
    "Split",
    "TagFormat",
    "get_format",
    "prompt_opens_reasoning",
]

# Order matters only where two formats' delimiters could start at one place: the first listed wins.
FORMATS: dict[str, TagFormat] = {
    f.name: f
    for f in (ThinkFormat(), BracketFormat(), HarmonyFormat(), Gemma4Format(), KimiVLFormat(), GraniteFormat())
}


class AutoFormat:
    """Picks, per text, the format whose delimiter comes first outside code."""

    name = "auto"

    def __init__(self, formats: dict[str, TagFormat] = FORMATS, default: str = "think") -> None:
        # A format that refines another is found through it (refine), not by its own, same, delimiters.
        self.formats = [f for f in formats.values() if f.refines not in formats]
        self.default = formats[default]
        # One scan finds the first delimiter of any format; the group name says whose.
        self._any = re.compile(
            "|".join(f"(?P<f{i}>(?{_flags(f)}:{f.detect_pattern}))" for i, f in enumerate(self.formats))
        )
        self._first_chars = "".join(dict.fromkeys("".join(f.first_chars for f in self.formats)))
        self._fallbacks = [f for f in self.formats if type(f).detect_fallback is not TagFormat.detect_fallback]
        self._refiners: dict[str, list[TagFormat]] = {}
        for f in formats.values():
            if f.refines in formats:
                self._refiners.setdefault(f.refines, []).append(f)

    def split(self, text: str, prefixed: bool | None = None, spans=UNSEEN) -> Split:
        if spans is UNSEEN:
            plain = split_plain(text)
            if plain is not None:
                return plain
            spans = code_spans(text)
        m = self._first_delimiter(text, 0)
        while m is not None and spans is not None and spans.covers(m.start()):
            m = self._first_delimiter(text, m.start() + 1)
        if m is not None:
            fmt = self.formats[int(m.lastgroup[1:])]
        else:
            fmt = next((f for f in self._fallbacks if f.detect_fallback(text)), None)
            if fmt is None:
                if not prefixed:  # no delimiter anywhere: nothing opens or closes a block
                    return Split(None, stripped(text), MISSING)
                fmt = self.default
        split = fmt.split(text, prefixed, spans)
        for refiner in self._refiners.get(fmt.name, ()):
            refined = refiner.refine(split, text)
            if refined is not None:
                return refined
        return split

    def _first_delimiter(self, text: str, pos: int):
        # The combined pattern's scoped flags leave sre no literal to scan for, so searching
        # with it costs ~24 ns/char; every delimiter starts with one of a few characters: hop
        # between those with str.find, one character at a time, each only up to the first
        # delimiter found so far (no bookkeeping between characters: LaTeX `\[` runs to many).
        find, match = text.find, self._any.match
        first, end = None, len(text)
        for c in self._first_chars:
            at = find(c, pos, end)
            while at >= 0:
                m = match(text, at)
                if m is not None:
                    first, end = m, at
                    break
                at = find(c, at + 1, end)
        return first

    def opens(self, prompt: str) -> bool:
        return prompt_opens_reasoning(prompt) is not None


def _flags(fmt: TagFormat) -> str:
    return "i" if fmt.flags & re.IGNORECASE else "-i"


_FIRST_CHARS = "".join(dict.fromkeys("".join(f.first_chars for f in FORMATS.values())))


@lru_cache(maxsize=1024)  # the samples of one prompt share it
def prompt_opens_reasoning(prompt: str) -> TagFormat | None:
    """The format whose block ``prompt``'s generation tail leaves open (a prefixed prompt), or None."""
    if not any(c in prompt for c in _FIRST_CHARS):  # no format's delimiter can be there: skip the scans
        return None
    marks = markup(prompt)
    for fmt in FORMATS.values():
        if fmt.opens(prompt, marks):
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
