"""Gemma-4's thought channel, ``<|channel>thought\\n…<channel|>`` then the answer; ``<|tool_call>`` starts a call.
A ``<|channel>`` without the channel name opens a block too (vLLM's parser does the same).

The template writes ``'<|channel>thought\\n' + reasoning + '\\n<channel|>'`` and, with thinking off,
an empty block at the end of the generation prompt (``<|turn>model\\n<|channel>thought\\n<channel|>``).
"""

from __future__ import annotations

from .base import TagFormat


class Gemma4Format(TagFormat):
    name = "gemma4"
    open_pattern = r"<\|channel>(?:thought(?![A-Za-z]))?"  # vLLM's parser opens at <|channel> and drops "thought"
    close_pattern = r"<channel\|>"
    tool_call_pattern = r"<\|tool_call>"
    rendered_open, rendered_close = "<|channel>thought\n", "\n<channel|>"
