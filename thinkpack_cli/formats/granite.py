"""Granite 3.3 thinking: ``<think>…</think><response>…</response>``; the answer is the response body.

The template's thinking system prompt says: "Write your thoughts between <think></think> and write
your response between <response></response>". Its delimiters are the ``think`` family's, so ``auto``
reads such an output as ``think`` and then hands it here when the answer is a ``<response>`` wrapper.
"""

from __future__ import annotations

import re

from .base import Split, TagFormat
from .think import ThinkFormat

_RESPONSE = re.compile(r"\s*<response>", re.IGNORECASE)


class GraniteFormat(ThinkFormat):
    name = "granite"
    rendered_open, rendered_close, rendered_end = "<think>", "</think><response>", "</response>"
    answer_wrappers = ("response",)
    refines = "think"  # auto reads its delimiters as think's, then asks refine()

    split = TagFormat.split  # not think's one-scan path: it stops at the wrapper anyway

    def refine(self, split: Split, text: str) -> Split | None:
        if split.format == "think" and split.answer[:1] == "<" and _RESPONSE.match(split.answer):
            return self.split(text)
        return None
