"""Where code is: delimiters inside closed code (fenced blocks, inline spans) are content."""

from __future__ import annotations

import re

# Closed fenced blocks (``` or ~~~, closed by a bare fence of the same character at
# least as long) and closed inline code within one line. An unclosed fence hides
# nothing: a model that opens ``` in its reasoning and then closes the block must
# still be seen closing.
_BACKTICKS = re.compile(r"`+")


class CodeSpans:
    """Whether a position lies inside closed code. Looks only where it is asked:
    the fences of the text (found once, by substring search) and the asked position's line."""

    __slots__ = ("_text", "_fences")

    def __init__(self, text: str):
        self._text = text
        self._fences: list[tuple[int, int]] | None = None

    def covers(self, pos: int) -> bool:
        if self._fences is None:
            self._fences = _fenced_blocks(self._text)
        if any(start <= pos < end for start, end in self._fences):
            return True
        return _in_inline_code(self._text, pos)


def _fenced_blocks(text: str) -> list[tuple[int, int]]:
    fence_lines = []
    for marker in ("```", "~~~"):
        i = text.find(marker)
        while i != -1:
            line_start = text.rfind("\n", 0, i) + 1
            line_end = text.find("\n", i)
            line_end = len(text) if line_end == -1 else line_end
            if i - line_start <= 3 and not text[line_start:i].strip(" "):
                run = len(text[i:line_end]) - len(text[i:line_end].lstrip(marker[0]))
                bare = not text[i + run : line_end].strip()
                fence_lines.append((line_start, line_end, marker[0], run, bare))
            i = text.find(marker, line_end)
    fence_lines.sort()
    blocks, opened = [], None
    for line_start, line_end, char, run, bare in fence_lines:
        if opened is None:
            opened = (line_start, char, run)
        elif char == opened[1] and run >= opened[2] and bare:
            blocks.append((opened[0], line_end))
            opened = None
    return blocks


def _in_inline_code(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    runs = [m.span() for m in _BACKTICKS.finditer(text, line_start, len(text) if line_end == -1 else line_end)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        # A run of n backticks opens code closed by the next run of exactly n.
        close = next((j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start), None)
        if close is None:
            i += 1
            continue
        if start <= pos < runs[close][1]:
            return True
        i = close + 1
    return False


def code_spans(text: str) -> CodeSpans | None:
    """A code-span checker for ``text``, or None when it has no backtick or tilde fence at all."""
    if "`" not in text and ("~" not in text or "~~~" not in text):  # one character is found ~6× faster
        return None
    return CodeSpans(text)
