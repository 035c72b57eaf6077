"""OpenAI harmony channels (gpt-oss).

Reasoning is the ``analysis`` channel, ``<|channel|>analysis<|message|>…<|end|>``;
the answer is the ``final`` channel that follows, ``<|channel|>final<|message|>…``
up to ``<|return|>`` or ``<|end|>``. Text decoded with special tokens skipped
(``analysis…assistantfinal…``) is recognised too.
"""

from __future__ import annotations

import re

from .base import EMPTY, MISSING, VALID, Split, TagFormat

_FINAL = re.compile(r"<\|channel\|>final(?:[^<]*)<\|message\|>")
_ANSWER_END = re.compile(r"<\|(?:return|end|call)\|>")
# What remains of harmony when a client decoded with skip_special_tokens=True.
_STRIPPED = re.compile(r"\s*analysis(?P<reasoning>.*?)assistantfinal(?P<answer>.*)", re.S)


class HarmonyFormat(TagFormat):
    name = "harmony"
    open_pattern = r"<\|channel\|>analysis(?:[^<]*)<\|message\|>"
    close_pattern = r"<\|end\|>"

    def answer_from(self, rest: str) -> str:
        final = _FINAL.search(rest)
        if final is None:
            return _ANSWER_END.split(rest, 1)[0].strip()
        return _ANSWER_END.split(rest[final.end() :], 1)[0].strip()

    def split(self, text, prefixed=None, spans=None) -> Split:
        result = super().split(text, prefixed, spans)
        if result.status == MISSING and "<|" not in text:
            stripped = _STRIPPED.match(text)
            if stripped is not None:
                reasoning = stripped["reasoning"].strip()
                return Split(reasoning, stripped["answer"].strip(), VALID if reasoning else EMPTY, self.name, "analysis")
        return result
