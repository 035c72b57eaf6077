"""OpenAI harmony channels (gpt-oss).

Reasoning is the ``analysis`` channel, ``<|channel|>analysis<|message|>…<|end|>``;
the answer is the ``final`` channel that follows, ``<|channel|>final<|message|>…``
up to ``<|return|>`` or ``<|end|>``. Text decoded with special tokens skipped
(``analysis…assistantfinal…``) is recognised too.
"""

from __future__ import annotations

import re

from .base import EMPTY, MISSING, UNSEEN, VALID, Split, TagFormat, stripped

_FINAL = re.compile(r"<\|channel\|>final(?:[^<]*)<\|message\|>")
_ANSWER_END = re.compile(r"<\|(?:return|end|call)\|>")
# What remains of harmony when a client decoded with skip_special_tokens=True.
_STRIPPED = re.compile(r"\s*analysis(?P<reasoning>.*?)assistantfinal(?P<answer>.*)", re.S)


class HarmonyFormat(TagFormat):
    name = "harmony"
    open_pattern = r"<\|channel\|>analysis(?:[^<]*)<\|message\|>"
    close_pattern = r"<\|end\|>"

    def answer_from(self, text: str, start: int = 0) -> str:
        final = _FINAL.search(text, start)
        if final is not None:
            start = final.end()
        end = _ANSWER_END.search(text, start)
        return stripped(text, start, len(text) if end is None else end.start())

    def split(self, text, prefixed=None, spans=UNSEEN) -> Split:
        result = super().split(text, prefixed, spans)
        if result.status == MISSING and "<|" not in text:
            stripped = _STRIPPED.match(text)
            if stripped is not None:
                reasoning = stripped["reasoning"].strip()
                return Split(reasoning, stripped["answer"].strip(), VALID if reasoning else EMPTY, self.name, "analysis")
        return result
