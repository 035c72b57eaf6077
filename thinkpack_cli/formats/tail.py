"""A prompt's generation tail: what follows its last chat-markup token (the assistant header).

Learned from the text, not from a table of models: chat templates separate turns with special
tokens written as ``<|…|>`` (ChatML, Llama-3, harmony, Granite, Kimi), ``<｜…｜>`` (DeepSeek),
``<|…>``/``<…|>`` (Gemma-4), ``[INST]``-style brackets (Mistral), ``<SPECIAL_n>`` (Nemotron),
``<ns:name>`` (Seed-OSS) or ``<start_of_turn>``-style words (Gemma). Whatever precedes the last
of them, system and user text included, is history: a tag quoted there opens nothing.
"""

from __future__ import annotations

import re

MARKUP = re.compile(
    r"<\|[^<>|\n]{1,40}\|>"
    r"|<｜[^<>｜\n]{1,40}｜>"
    r"|<\|[\w.:-]{1,40}>|<[\w.:-]{1,40}\|>"
    r"|\[/?[A-Z][A-Z_]{1,30}\]"
    r"|</?(?:SPECIAL_\d+|[a-z]+:[a-z_]+|[a-z]+_of_[a-z]+|s|bos|eos)>"
)
_REACH = 80  # no delimiter is longer: where one can overlap a markup token


def markup(prompt: str) -> list[re.Match]:
    """The chat-markup tokens of ``prompt``, in order."""
    return list(MARKUP.finditer(prompt))


def tail_start(prompt: str, delimiter_re: re.Pattern, marks: list[re.Match] | None = None) -> int | None:
    """Where ``prompt``'s generation tail starts: after its last markup token that is not part of
    a reasoning delimiter (``delimiter_re``'s), or None for a prompt without markup (a bare one)."""
    for mark in reversed(markup(prompt) if marks is None else marks):
        lo = max(0, mark.start() - _REACH)
        if not any(
            d.start() <= mark.start() and mark.end() <= d.end()
            for d in delimiter_re.finditer(prompt, lo, mark.end() + _REACH)
        ):
            return mark.end()
    return None
