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
# A separate file of gold answers (--gold-file): nothing is parsed there, so `answer` is a gold.
GOLD_FILE_FIELDS = ("gold", "reference", "answer", "expected_answer")

# A training record (SFT data: Alpaca, LLaMA-Factory, ShareGPT-like columns).
INSTRUCTION_FIELDS = ("instruction", "prompt", "question")
RESPONSE_FIELDS = ("response", "output", "completion", "answer")
# A dataset record tp distill asks about, and its reference answer (the fields its mode writes excepted).
QUESTION_FIELDS = ("question", "problem", *(f for f in INSTRUCTION_FIELDS if f != "question"))
DATASET_GOLD_FIELDS = ("gold", "reference", "answer", "response", "output")

__all__ = [
    "DATASET_GOLD_FIELDS",
    "GOLD_FIELDS",
    "GOLD_FILE_FIELDS",
    "INSTRUCTION_FIELDS",
    "QUESTION_FIELDS",
    "REASONING_FIELDS",
    "RESPONSE_FIELDS",
    "TEXT_FIELDS",
]
