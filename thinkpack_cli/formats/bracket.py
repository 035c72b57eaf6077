"""Mistral's bracket delimiters, ``[THINK]…[/THINK]`` (Magistral), in any case; ``[TOOL_CALLS]`` starts a call."""

from __future__ import annotations

import re

from .base import TagFormat


class BracketFormat(TagFormat):
    name = "bracket"
    open_pattern = r"\[THINK\]"
    close_pattern = r"\[/THINK\]"
    tool_call_pattern = r"\[TOOL_CALLS\]"
    flags = re.IGNORECASE
    rendered_open, rendered_close = "[THINK]", "[/THINK]"
    first_chars = "["
