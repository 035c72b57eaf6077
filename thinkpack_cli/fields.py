"""Where tp looks for a value when no option names its field: one table per kind of value.

Order matters: the first field a record has wins (for reasoning, several that agree are one
and two that differ are an error; see ``parse``).
"""

from __future__ import annotations

# A raw output's text: OpenAI-style, vLLM/TGI dumps, chat messages.
TEXT_FIELDS = ("response", "output", "completion", "generated_text", "text", "content")
# Where servers put reasoning they split off themselves (vLLM, SGLang, DeepSeek API, gpt-oss messages).
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
# A record's own gold answer. Never `answer`: that is the field tp parse writes.
GOLD_FIELDS = ("gold", "reference")

__all__ = ["GOLD_FIELDS", "REASONING_FIELDS", "TEXT_FIELDS"]
