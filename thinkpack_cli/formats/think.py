"""The ``<think>`` family: ``<think>``, ``<thinking>``, ``<reasoning>``, ``<thought>`` and
ByteDance Seed's ``<seed:think>``, in any case (Marco-o1 writes ``<Thought>``).
A block closes with the closing tag of the name that opened it."""

from __future__ import annotations

import re

from .base import TagFormat

_NAMES = r"(?:think|thinking|reasoning|thought|seed:think)"


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
