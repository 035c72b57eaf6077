"""The one classification rule shared by every reasoning format.

A block opened (or prefixed by the prompt) and closed with non-blank content is
``valid``; closed but blank is ``empty``; opened and never closed is
``truncated`` (its answer is empty: an unclosed trace is no answer); no block
at all is ``missing``. Delimiters inside closed code spans (fenced blocks or
inline code) are content, not delimiters.

Several blocks (interleaved thinking) all belong to the reasoning, joined by a
blank line; the answer is the visible text after the last one. Same-name tags
nest and balance; an opening right after an opening, and a close right after a
close, are one delimiter. A tool-call start ends an open block: the call is
answer text, as the vLLM and SGLang parsers do.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .code import CodeSpans, code_spans  # noqa: F401  (re-exported: formats and callers use them from here)
from .tail import tail_start

VALID = "valid"
EMPTY = "empty"
TRUNCATED = "truncated"
MISSING = "missing"
STATUSES = (VALID, EMPTY, TRUNCATED, MISSING)


class Split(NamedTuple):
    """A text split into reasoning and answer (a tuple: made for every sample, so cheap)."""

    reasoning: str | None
    answer: str
    status: str
    format: str | None = None
    tag: str | None = None


def first_outside(pattern: re.Pattern, text: str, pos: int, spans: CodeSpans | None, endpos: int | None = None):
    """First match of ``pattern`` in ``text[pos:endpos]`` that is not inside code."""
    end = len(text) if endpos is None else endpos
    m = pattern.search(text, pos, end)
    while m is not None and spans is not None and spans.covers(m.start()):
        m = pattern.search(text, m.start() + 1, end)
    return m


# Passed as ``spans`` when the caller has not looked for code yet.
UNSEEN = object()


def _status(reasoning: str) -> str:
    return VALID if reasoning else EMPTY


_LEADING_SPACE = re.compile(r"\s*")


def stripped(text: str, start: int = 0, end: int | None = None) -> str:
    """``text[start:end].strip()`` with one copy instead of two (texts run to many KB)."""
    end = len(text) if end is None else end
    start = _LEADING_SPACE.match(text, start, end).end()
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end]


def _blank(text: str, start: int, end: int) -> bool:
    return _LEADING_SPACE.match(text, start, end).end() == end


def joined(text: str, spans: list[tuple[int, int]]) -> str:
    """The reasoning of several blocks: each stripped, blank ones left out, a blank line between."""
    if len(spans) == 1:
        return stripped(text, *spans[0])
    return "\n\n".join(part for part in (stripped(text, s, e) for s, e in spans) if part)


# Tool-call starts of the families whose reasoning is a <think>-style block: Qwen3/QwQ/GLM/Hunyuan
# `<tool_call>`, Kimi-K2 `<|tool_calls_section_begin|>`, `<tool_calls>`, DeepSeek `<｜tool▁calls▁begin｜>`,
# Granite `<|tool_call|>`, Nemotron `<TOOLCALL>`, Seed-OSS `<seed:tool_call>`, Gemma-4 `<|tool_call>`.
TOOL_CALLS = (
    r"<tool_calls?>|<\|tool_calls_section_begin\|>|<｜tool▁calls▁begin｜>|<\|tool_call\|?>"
    r"|<TOOLCALL>|<seed:tool_call>"
)


class TagFormat:
    """A reasoning block between an opening and a closing delimiter (see the package docstring for the API).

    ``open_pattern`` and ``close_pattern`` are regular-expression sources; a
    subclass may tie the close to the open it saw (``close_after``) and shape
    the answer region (``answer_from``).
    """

    name: str = ""
    open_pattern: str = ""
    close_pattern: str = ""
    tool_call_pattern: str | None = None
    flags: int = 0
    # The rendered form: opening() + reasoning + closing() + answer + ending().
    rendered_open: str = ""
    rendered_close: str = ""
    rendered_end: str = ""
    # A tag whose body is the answer when the answer region starts with it (`<answer>…</answer>`).
    answer_wrappers: tuple[str, ...] = ()
    # The format whose delimiters this one shares (auto finds that one, then asks ``refine``).
    refines: str | None = None
    # The characters every delimiter starts with (auto hops between them instead of regex-scanning).
    first_chars: str = "<"

    def __init__(self) -> None:
        self.open_re = re.compile(self.open_pattern, self.flags)
        self.close_re = re.compile(self.close_pattern, self.flags)
        parts = [f"(?P<open>{self.open_pattern})", f"(?P<close>{_anonymous(self.close_pattern)})"]
        if self.tool_call_pattern:
            parts.append(f"(?P<tool>{self.tool_call_pattern})")
        self.delimiter_re = re.compile("|".join(parts), self.flags)
        self.detect_pattern = f"{_anonymous(self.open_pattern)}|{_anonymous(self.close_pattern)}"
        self._wrapper_re = (
            re.compile(rf"\s*<({'|'.join(self.answer_wrappers)})>", re.IGNORECASE) if self.answer_wrappers else None
        )

    # ------------------------------------------------------------------ rendered form

    def opening(self) -> str:
        """What a prompt ends with to open a block (``tp steer`` appends it; prompt detection sees it)."""
        return self.rendered_open

    def closing(self) -> str:
        """What ends a block and leads into the answer."""
        return self.rendered_close

    def ending(self) -> str:
        """What follows the answer (a wrapper's close, a final message's end), or ""."""
        return self.rendered_end

    def render(self, reasoning: str, answer: str) -> str:
        """An output of this format as its family writes it; ``split`` gives ``reasoning`` and ``answer`` back."""
        return self.opening() + reasoning + self.closing() + answer + self.ending()

    # ------------------------------------------------------------------ auto

    def detect_fallback(self, text: str) -> bool:
        """Whether ``text``, holding no delimiter of any format, is still this format's (auto's last resort)."""
        return False

    def refine(self, split: Split, text: str) -> Split | None:
        """For a format that shares another's delimiters: its own split of ``split`` (what the other gave), or None."""
        return None

    # ------------------------------------------------------------------ split

    def close_after(self, open_match: re.Match) -> re.Pattern:
        """The closing delimiter that ends a block opened by ``open_match``."""
        return self.close_re

    def answer_from(self, text: str, start: int = 0) -> str:
        """The answer within ``text[start:]``, what follows a closed block (or a text with none)."""
        if self._wrapper_re is not None and start:
            wrapped = self._wrapper_re.match(text, start)
            if wrapped is not None:
                end = re.compile(rf"</{re.escape(wrapped[1])}>", re.IGNORECASE).search(text, wrapped.end())
                return stripped(text, wrapped.end(), len(text) if end is None else end.start())
        return stripped(text, start)

    def split(self, text: str, prefixed: bool | None = None, spans=UNSEEN) -> Split:
        """Split ``text``; ``prefixed`` says the prompt opened a block (None: infer it).

        Auto inference treats a closing delimiter seen before any opening one as
        the close of a block the prompt opened (DeepSeek-R1-Distill, QwQ).
        """
        if spans is UNSEEN:
            spans = code_spans(text)
        stack: list[re.Match | None] = [None] if prefixed else []  # None: the block the prompt opened
        blocks: list[tuple[int, int]] = []
        start = after = 0  # where the open block's reasoning starts; where the answer starts
        tag = None
        for m in self._delimiters(text):
            if spans is not None and spans.covers(m.start()):
                continue
            if m.start("open") >= 0:
                if not stack:
                    stack.append(m)
                    start = m.end()
                    tag = tag or m.group()
                elif len(stack) == 1 and _blank(text, start, m.start()):
                    stack[0], start = m, m.end()  # a repeated opening is one delimiter (and names the prompt's block)
                    tag = tag or m.group()
                elif stack[-1] is not None and self.close_after(stack[-1]) is self.close_after(m):
                    stack.append(m)  # nested: balanced by its own close
                # else content: another name's tag, or one inside the block the prompt opened (its name unseen)
            elif m.start("close") >= 0:
                if stack:
                    if stack[-1] is None or self.close_after(stack[-1]).fullmatch(m.group()):
                        stack.pop()
                        if not stack:
                            blocks.append((start, m.start()))
                            after = m.end()
                            tag = tag or m.group()
                elif blocks and _blank(text, after, m.start()):
                    after = m.end()  # a repeated close is one delimiter
                elif not blocks and prefixed is None:
                    blocks.append((0, m.start()))  # the close of a block the prompt opened
                    after = m.end()
                    tag = m.group()
            elif stack:  # a tool call ends the open block; the call is answer text
                blocks.append((start, m.start()))
                after = m.start()
                stack.clear()
        if stack:
            return Split(joined(text, blocks + [(start, len(text))]), "", TRUNCATED, self.name, tag)
        if not blocks:
            return Split(None, stripped(text), MISSING)
        reasoning = joined(text, blocks)
        return Split(reasoning, self.answer_from(text, after), _status(reasoning), self.name, tag)

    def _delimiters(self, text: str):
        """The delimiter matches of ``text`` in order, not overlapping. sre finds no literal to scan
        for in the combined pattern (~10 ns/char); str.find hops between the characters a delimiter
        starts with at well under 1 ns/char, and the pattern is tried only there."""
        match, pos, end = self.delimiter_re.match, 0, len(text)
        if len(self.first_chars) == 1:
            find, c = text.find, self.first_chars
            while (at := find(c, pos)) >= 0:
                m = match(text, at)
                if m is None:
                    pos = at + 1
                else:
                    yield m
                    pos = m.end()
            return
        while pos < end:
            at = min((i for i in (text.find(c, pos) for c in self.first_chars) if i >= 0), default=-1)
            if at < 0:
                return
            m = match(text, at)
            if m is None:
                pos = at + 1
            else:
                yield m
                pos = m.end()

    # ------------------------------------------------------------------ prompts

    def opens(self, prompt: str, marks: list[re.Match] | None = None) -> bool:
        """Whether ``prompt``'s generation tail opens a block of this format that is still open.

        The tail is what follows the prompt's last chat-markup token (its assistant header); a
        prompt with no markup at all must end with the opening. Tags quoted in system or user
        text come before the header, so they never count.
        """
        tail = tail_start(prompt, self.delimiter_re, marks)
        last_open = last_match(self.open_re, prompt, 0 if tail is None else tail)
        if last_open is None:
            return False
        if tail is None and prompt[last_open.end() :].strip():
            return False
        return self.close_after(last_open).search(prompt, last_open.end()) is None


_GROUP_NAME = re.compile(r"\?P<\w+>")


def _anonymous(pattern: str) -> str:
    """``pattern`` with its named groups unnamed, to combine it with others."""
    return _GROUP_NAME.sub("?:", pattern)


def last_match(pattern: re.Pattern, text: str, pos: int = 0, endpos: int | None = None) -> re.Match | None:
    """The last match of ``pattern`` in ``text[pos:endpos]`` (``finditer`` has no reverse)."""
    last = None
    for last in pattern.finditer(text, pos, len(text) if endpos is None else endpos):
        pass
    return last
