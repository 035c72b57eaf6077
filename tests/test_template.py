"""Template handling: reasoning styles found by rendering, and renders that match the template's own.

The real-family expectations come from ../shared/tokenizers/MANIFEST.md; those tests skip without it.
"""

from __future__ import annotations

import functools

import pytest
import tiny_chat

from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.errors import RecordError, UsageError
from thinkpack_cli.records import Message


@functools.cache
def _load(path: str):
    return tokenizers.load(path)


def conversations(reasoning: bool) -> list[list[Message]]:
    r = (lambda text: text) if reasoning else (lambda text: None)
    return [
        [Message("user", "What is 2 + 2?"), Message("assistant", "The answer is 4.", r("Two and two make four."))],
        [
            Message("system", "Be brief."),
            Message("user", "Hi."),
            Message("assistant", "Hello!", r("Greet back.")),
            Message("user", "What is 2 + 2?"),
            Message("assistant", "4", r("Add them.")),
        ],
    ]


@pytest.mark.parametrize(
    "template, style, drops, generation_prompt",
    [
        ("INLINE", "inline", "none", "<|im_start|>assistant\n"),
        ("NATIVE", "native", "history", "<|im_start|>assistant\n"),
        ("PREFIXED", "prefixed", "all", "<|im_start|>assistant\n<think>\n"),
    ],
)
def test_style_is_found_by_rendering(template, style, drops, generation_prompt):
    t = detect(tiny_chat.tokenizer(getattr(tiny_chat, template)))
    assert (t.style, t.drops, t.generation_prompt) == (style, drops, generation_prompt)
    assert t.header == "<|im_start|>assistant\n" and t.format.name == "think"


def test_no_reasoning_delimiter_token_means_style_text_with_think_tags():
    t = detect(tiny_chat.tokenizer(tiny_chat.INLINE, think_tokens=False))
    assert (t.style, t.format.name, t.delimiters.block("R"), t.thinking_mode) == (
        "text",
        "think",
        "<think>\nR\n</think>\n\n",
        False,
    )


@pytest.mark.parametrize("template", ["INLINE", "NATIVE", "PREFIXED"])
@pytest.mark.parametrize("reasoning", [True, False])
def test_render_matches_the_templates_own_text(template, reasoning):
    t = detect(tiny_chat.tokenizer(getattr(tiny_chat, template)))
    for messages in conversations(reasoning):
        t.render(messages, train_all=True, empty_think=False, verify=True)  # raises on any difference


def test_the_prompt_may_hold_the_answer_text_without_confusing_the_spans():
    t = detect(tiny_chat.tokenizer(tiny_chat.INLINE))
    r = t.render([Message("user", "Say: 4<|im_end|>"), Message("assistant", "4", "Echo.")])
    ((answer_start, answer_end),) = r.answer
    assert r.text[answer_start:answer_end] == "\n\n4<|im_end|>"
    assert r.text.index("4<|im_end|>") < answer_start  # the prompt's copy came first and was not taken


def test_template_errors_are_one_line_record_errors():
    t = detect(
        tiny_chat.tokenizer(
            "{%- for m in messages %}{%- if m.role == 'system' %}"
            "{{ raise_exception('System role not supported\\nat all') }}{%- endif %}"
            "{%- endfor %}" + tiny_chat.INLINE
        )
    )
    with pytest.raises(RecordError, match=r"^the chat template of tiny failed: System role not supported$"):
        t.render([Message("system", "s"), Message("user", "q"), Message("assistant", "a")])


def test_no_chat_template_is_a_usage_error():
    tok = tiny_chat.tokenizer(tiny_chat.INLINE)
    tok.chat_template = None
    with pytest.raises(UsageError, match="no chat template"):
        detect(tok)


# ---------------------------------------------------------------------------- real families

FAMILIES = {  # folder: (style, format, native field, drops, generation prompt, turn header) per MANIFEST.md
    "qwen3": ("native", "think", "reasoning_content", "history", "<|im_start|>assistant\n", "<|im_start|>assistant\n"),
    "deepseek-r1-distill-qwen": ("prefixed", "think", None, "all", "<｜Assistant｜><think>\n", "<｜Assistant｜>"),
    "qwq-32b": ("prefixed", "think", None, "history", "<|im_start|>assistant\n<think>\n", "<|im_start|>assistant\n"),
    "gpt-oss": ("harmony", "harmony", "reasoning_content", "history", "<|start|>assistant", "<|start|>assistant"),
    "smollm3": ("inline", "think", None, "none", "<|im_start|>assistant\n", "<|im_start|>assistant\n"),
    "magistral-small-2509": ("bracket", "bracket", None, "none", "", ""),
    "deepseek-v3": ("text", "think", None, "none", "<｜Assistant｜>", "<｜Assistant｜>"),
    "llama-3.1": (
        "text",
        "think",
        None,
        "none",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    "gemma-3": ("text", "think", None, "none", "<start_of_turn>model\n", "<start_of_turn>model\n"),
    # The families added in turn 2, as their templates render (see test_families.py for labels).
    "deepseek-v3.1": ("prefixed", "think", None, "all", "<｜Assistant｜></think>", "<｜Assistant｜>"),
    "kimi-k2-thinking": (
        "native",
        "think",
        "reasoning_content",
        "all",
        "<|im_assistant|>assistant<|im_middle|>",
        "<|im_assistant|>assistant<|im_middle|>",
    ),
    "nemotron-nano-v2": (
        "prefixed",
        "think",
        None,
        "all",
        "<SPECIAL_11>Assistant\n<think>\n",
        "<SPECIAL_11>Assistant\n",
    ),
    "seed-oss": ("native", "think", "reasoning_content", "none", "<seed:bos>assistant\n", "<seed:bos>assistant\n"),
    "gemma-4": (
        "native",
        "gemma4",
        "reasoning_content",
        "history",
        "<|turn>model\n<|channel>thought\n<channel|>",
        "<|turn>model\n",
    ),
    "granite-3.3": (
        "text",
        "think",
        None,
        "none",
        "<|start_of_role|>assistant<|end_of_role|>",
        "<|start_of_role|>assistant<|end_of_role|>",
    ),
    "qwen3-thinking-2507": (
        "native",
        "think",
        "reasoning_content",
        "history",
        "<|im_start|>assistant\n<think>\n",
        "<|im_start|>assistant\n",
    ),
    "qwen3.6": (
        "native",
        "think",
        "reasoning_content",
        "history",
        "<|im_start|>assistant\n<think>\n",
        "<|im_start|>assistant\n",
    ),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_is_detected_as_its_manifest_says(tokenizers_dir, family):
    t = detect(_load(str(tokenizers_dir / family)))
    assert (t.style, t.format and t.format.name, t.reasoning_field, t.drops, t.generation_prompt, t.header) == FAMILIES[
        family
    ]


@pytest.mark.parametrize(
    "family, reasoning",
    [(f, True) for f in FAMILIES] + [(f, False) for f in FAMILIES],
)
def test_every_family_renders_as_its_template_does_and_tokenizes_as_transformers_does(
    tokenizers_dir, family, reasoning
):
    tok = _load(str(tokenizers_dir / family))
    t = detect(tok)
    for messages in conversations(reasoning):
        r = t.render(messages, train_all=True, empty_think=False, verify=True)
        ids = tok.backend_tokenizer.encode(r.text, add_special_tokens=False).ids
        assert ids == tok(r.text, add_special_tokens=False)["input_ids"]


def test_r1_distill_cuts_every_turns_reasoning_and_tp_puts_the_last_back(tokenizers_dir):
    tok = _load(str(tokenizers_dir / "deepseek-r1-distill-qwen"))
    messages = conversations(True)[0]
    chat = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "<think>\nTwo and two make four.\n</think>\n\nThe answer is 4."},
    ]
    own = tok.apply_chat_template(chat, tokenize=False)
    assert "Two and two" not in own  # the template loses it
    r = detect(tok).render(messages)
    assert r.reinserted
    assert r.text.endswith(
        "<｜Assistant｜><think>\nTwo and two make four.\n</think>\n\nThe answer is 4.<｜end▁of▁sentence｜>"
    )


def test_template_kwargs_pass_through(tokenizers_dir):
    qwen = detect(_load(str(tokenizers_dir / "qwen3")), {"enable_thinking": False})
    assert qwen.generation_prompt == "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert qwen.header == "<|im_start|>assistant\n"
    oss = detect(_load(str(tokenizers_dir / "gpt-oss")), {"reasoning_effort": "high"})
    assert "Reasoning: high" in oss.render(conversations(True)[0]).text


def test_gemma_role_error_is_a_one_line_record_error(tokenizers_dir):
    t = detect(_load(str(tokenizers_dir / "gemma-3")))
    with pytest.raises(RecordError, match="^the chat template of gemma-3 failed: Conversation roles must alternate"):
        t.render([Message("user", "a"), Message("user", "b"), Message("assistant", "c")])
