"""OpenAI harmony channels (gpt-oss).

An output is a run of messages ``<|channel|>NAME[ header]<|message|>BODY`` ended by ``<|end|>``,
``<|return|>`` or ``<|call|>`` (later ones start with ``<|start|>assistant``). The ``analysis``
messages are the reasoning; the answer is the ``final`` message's body (its header may carry
``<|constrain|>…``). A ``commentary`` message addressed ``to=`` a tool is a call: it ends the
reasoning and is answer text. With no analysis message the status is ``missing`` and the answer is
the final body. A cut inside analysis is ``truncated``; a cut inside a later header leaves no answer.

Text decoded with special tokens skipped (``analysisR…assistantfinalA``) is read the same way;
there a text that ends inside analysis is ``truncated``.
"""

from __future__ import annotations

import re

from .base import EMPTY, MISSING, TRUNCATED, UNSEEN, VALID, Split, TagFormat, joined, stripped

_HEADER = r"(?:[^<]|<\|constrain\|>)*"
_MESSAGE = re.compile(rf"<\|channel\|>(?P<channel>\w+){_HEADER}<\|message\|>")
_END = re.compile(r"<\|(?:end|return|call)\|>")
_PARTIAL_HEADER = re.compile(r"\s*(?:<\|start\|>(?:assistant)?)?<\|channel\|>")
# What remains of harmony when a client decoded with skip_special_tokens=True.
_STRIPPED_START = re.compile(
    r"(?:assistant)?(?:analysis(?=[A-Z]|.*assistant(?:final|commentary))|assistant(?:final|commentary))", re.S
)
_STRIPPED_SPLIT = re.compile(r"assistant(?=analysis|final|commentary)")


class HarmonyFormat(TagFormat):
    name = "harmony"
    open_pattern = rf"<\|channel\|>analysis{_HEADER}<\|message\|>"
    close_pattern = r"<\|end\|>"
    rendered_open = "<|channel|>analysis<|message|>"
    rendered_close = "<|end|><|start|>assistant<|channel|>final<|message|>"
    rendered_end = "<|return|>"

    def __init__(self) -> None:
        super().__init__()
        self.detect_pattern += r"|<\|channel\|>"  # any channel header is harmony's: a final-only output too

    def detect_fallback(self, text: str) -> bool:
        return _STRIPPED_START.match(text) is not None and "<|" not in text  # the match at 0 fails fastest

    def split(self, text, prefixed=None, spans=UNSEEN) -> Split:
        if "<|" not in text:
            if _STRIPPED_START.match(text) is not None:
                return _split_stripped(text)
            if prefixed:
                return Split(stripped(text), "", TRUNCATED, self.name, None)
            return Split(None, stripped(text), MISSING)
        reasoning, answer, tag = [], None, None
        pos = 0
        first = _MESSAGE.search(text)
        if prefixed or (
            prefixed is None and (end := _END.search(text)) and (first is None or end.start() < first.start())
        ):
            # The prompt opened the analysis message: the text starts inside its body.
            end = _END.search(text)
            if end is None:
                return Split(stripped(text), "", TRUNCATED, self.name, None)
            reasoning.append((0, end.start()))
            tag, pos = end.group(), end.end()
        while (m := _MESSAGE.search(text, pos)) is not None:
            end = _END.search(text, m.end())
            body_end = len(text) if end is None else end.start()
            channel = m["channel"]
            if channel == "analysis":
                tag = tag or m.group()
                if end is None:
                    return Split(joined(text, reasoning + [(m.end(), body_end)]), "", TRUNCATED, self.name, tag)
                reasoning.append((m.end(), body_end))
            elif channel == "final":
                answer = stripped(text, m.end(), body_end)
            elif channel == "commentary" and "to=" in m.group() and answer is None:
                answer = stripped(text, _message_start(text, m.start()))  # a tool call is answer text
                break
            pos = m.end() if end is None else end.end()
        if not reasoning:
            if answer is None:
                if _PARTIAL_HEADER.match(text) and not _MESSAGE.search(text):
                    return Split("", "", TRUNCATED, self.name, None)  # cut inside the first header
                return Split(None, stripped(text), MISSING)
            return Split(None, answer, MISSING)
        text_reasoning = joined(text, reasoning)
        return Split(text_reasoning, answer or "", VALID if text_reasoning else EMPTY, self.name, tag)


def _message_start(text: str, channel_at: int) -> int:
    start = text.rfind("<|start|>", 0, channel_at)
    return (
        start
        if start >= 0 and not text[start:channel_at].replace("<|start|>", "").replace("assistant", "").strip()
        else channel_at
    )


def _split_stripped(text: str) -> Split:
    reasoning, answer, last = [], None, None
    for segment in _STRIPPED_SPLIT.split(text):
        for channel in ("analysis", "final", "commentary"):
            if segment.startswith(channel):
                last = channel
                body = segment[len(channel) :].strip()
                if channel == "analysis":
                    reasoning.append(body)
                elif channel == "final":
                    answer = body
                elif answer is None:
                    answer = segment.strip()
                break
    if not reasoning:
        return Split(None, answer or "", MISSING)
    joined_reasoning = "\n\n".join(r for r in reasoning if r)
    if last == "analysis":
        return Split(joined_reasoning, "", TRUNCATED, "harmony", "analysis")
    return Split(joined_reasoning, answer or "", VALID if joined_reasoning else EMPTY, "harmony", "analysis")
