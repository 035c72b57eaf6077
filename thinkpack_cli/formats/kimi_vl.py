"""Kimi-VL-Thinking's ``◁think▷…◁/think▷`` (Moonshot's vLLM parser splits on these exact strings)."""

from __future__ import annotations

from .base import TOOL_CALLS, TagFormat


class KimiVLFormat(TagFormat):
    name = "kimi-vl"
    open_pattern = "◁think▷"
    close_pattern = "◁/think▷"
    tool_call_pattern = TOOL_CALLS
    rendered_open, rendered_close = "◁think▷", "◁/think▷"
    first_chars = "◁"
