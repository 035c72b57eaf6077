"""Delimiters the user names (``--open``/``--close``), matched literally."""

from __future__ import annotations

import re

from .base import TagFormat


class CustomFormat(TagFormat):
    name = "custom"

    def __init__(self, open_tag: str, close_tag: str) -> None:
        if not open_tag or not close_tag:
            raise ValueError("custom delimiters need both an opening and a closing tag")
        self.open_pattern = re.escape(open_tag)
        self.close_pattern = re.escape(close_tag)
        self.rendered_open, self.rendered_close = open_tag, close_tag
        self.first_chars = open_tag[0] + close_tag[0]
        super().__init__()
