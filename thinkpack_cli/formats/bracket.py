"""Mistral's bracket delimiters, ``[THINK]…[/THINK]`` (Magistral), in any case."""

from __future__ import annotations

import re

from .base import TagFormat


class BracketFormat(TagFormat):
    name = "bracket"
    open_pattern = r"\[THINK\]"
    close_pattern = r"\[/THINK\]"
    flags = re.IGNORECASE
