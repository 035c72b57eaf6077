"""tp steer: the exact prompt each family gets for each preset and mode.

Expected strings are written out by hand from each template's generation prompt (MANIFEST.md)
and the family's own delimiters; the real-family tests skip without ../shared.
"""

from __future__ import annotations

import functools
import json

import pytest
import tiny_chat

from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.errors import RecordError, UsageError
from thinkpack_cli.steer import PRESETS, Steerer, SteerOptions

RECORD = {"system": "Be brief.", "instruction": "What is 2 + 2?", "response": "4"}


def steer(template, record=RECORD, **options) -> str:
    result = Steerer(template, SteerOptions(**options))([dict(record)])[0]
    if isinstance(result, RecordError):
        raise result
    return result["prompt"]


# ---------------------------------------------------------------------------- self-contained

TINY_BASE = (
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
)


@functools.cache
def tiny(template: str):
    return detect(tiny_chat.tokenizer(getattr(tiny_chat, template)))


@pytest.mark.parametrize(
    "options, suffix",
    [
        ({}, ""),
        ({"reasoning": "open"}, "<think>\n"),
        ({"reasoning": "none"}, ""),
        ({"prefix": "brief"}, "<think>\nOkay, "),
        ({"prefix": "steps"}, "<think>\nOkay, let me think this through step by step."),
        ({"prefix": "concise"}, "<think>\nOkay, I'll keep my thinking concise and make sure to give a final answer."),
        ({"prefix": "no-think"}, "<think>\nOkay, I think I have finished thinking.\n</think>\n\n"),
        ({"prefix": "ellipsis"}, "<think>\n..."),
        ({"prefix": "Hmm.", "close": True}, "<think>\nHmm.\n</think>\n\n"),
        ({"prefix": "Hmm.", "response_prefix": "So"}, "<think>\nHmm.\n</think>\n\nSo"),
        ({"reasoning": "none", "response_prefix": "So"}, "So"),
        ({"reasoning": "native", "prefix": "Sure"}, "Sure"),
    ],
)
def test_inline_template_prompts(options, suffix):
    assert steer(tiny("INLINE"), **options) == TINY_BASE + suffix


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, TINY_BASE + "<think>\n"),
        ({"reasoning": "open"}, TINY_BASE + "<think>\n"),  # already open: byte for byte, no second tag
        ({"reasoning": "none"}, TINY_BASE),  # the opened block and its newline are gone
        ({"prefix": "brief"}, TINY_BASE + "<think>\nOkay, "),
        ({"prefix": "no-think"}, TINY_BASE + "<think>\nOkay, I think I have finished thinking.\n</think>\n\n"),
        ({"response_prefix": "The answer is"}, TINY_BASE + "<think>\n\n</think>\n\nThe answer is"),
    ],
)
def test_prefixed_template_prompts(options, expected):
    assert steer(tiny("PREFIXED"), **options) == expected


def test_a_trailing_answer_is_left_out_and_history_kept():
    chat = {
        "messages": [
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4"},
        ]
    }
    assert steer(tiny("INLINE"), chat) == (
        "<|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_token_ids_are_the_prompts_tokens():
    t = tiny("INLINE")
    [record] = Steerer(t, SteerOptions(prefix="steps", token_ids=True))([dict(RECORD)])
    assert record["prompt_token_ids"] == t.tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
    assert record["response"] == "4"  # other fields pass through


@pytest.mark.parametrize(
    "template, options, message",
    [
        ("INLINE", {"reasoning": "sideways"}, "--reasoning must be one of open, none, native"),
        ("INLINE", {"reasoning": "none", "close": True}, "opens no block"),
        ("INLINE", {"reasoning": "none", "prefix": "no-think"}, "opens no block"),
    ],
)
def test_options_that_cannot_work_are_usage_errors(template, options, message):
    with pytest.raises(UsageError, match=message):
        Steerer(tiny(template), SteerOptions(**options))


def test_closing_a_block_that_is_not_open_is_a_record_error():
    with pytest.raises(RecordError, match="no open reasoning block to close"):
        steer(tiny("INLINE"), reasoning="native", close=True)


def test_a_template_without_reasoning_opens_the_inline_text_block():
    t = detect(tiny_chat.tokenizer(tiny_chat.INLINE, think_tokens=False))
    assert steer(t, prefix="brief") == TINY_BASE + "<think>\nOkay, "
    assert steer(t, prefix="Hmm.", close=True, response_prefix="So") == TINY_BASE + "<think>\nHmm.\n</think>\n\nSo"


def test_glm_opens_without_a_newline_and_closes_with_its_own_empty_block():
    t = tiny("GLM")
    assert steer(t, prefix="Hmm.", close=True) == TINY_BASE + "<think>Hmm.</think>\n"
    assert steer(t, reasoning="none") == TINY_BASE + "<think></think>\n"  # its switch off


def test_a_template_closed_by_default_opens_with_its_own_switch():
    t = tiny("EXAONE")  # skip_think by default: the prompt holds a closed empty block
    assert steer(t) == TINY_BASE + "<think>\n\n</think>\n\n"
    assert steer(t, prefix="brief") == TINY_BASE + "<think>\nOkay, "  # rendered with skip_think=False


def test_cli_steer(tp, tmp_path):
    folder = tmp_path / "tiny"
    tiny_chat.tokenizer(tiny_chat.PREFIXED).save_pretrained(folder)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(RECORD) + "\n" + json.dumps({"question": 1}) + "\n")
    result = tp("steer", source, "-t", folder, "--prefix", "brief", "--token-ids", "--on-error", "skip")
    assert result.exit_code == 0, result.stderr
    [out] = [json.loads(line) for line in result.stdout.splitlines()]
    assert out["prompt"] == TINY_BASE + "<think>\nOkay, " and out["prompt_token_ids"]
    assert "tp steer: 2 records read, 1 written, 1 skipped" in result.stderr


# ---------------------------------------------------------------------------- real families

# family: (turn header, the generation tail natively / opened / with --reasoning none, the closing)
# by hand from each template's generation prompt and its own block (MANIFEST.md).
THINK = "\n</think>\n\n"
FAMILIES = {
    "qwen3": ("<|im_start|>assistant\n", "", "<think>\n", "<think>\n\n</think>\n\n", THINK),
    "qwen3-thinking-2507": ("<|im_start|>assistant\n", "<think>\n", "<think>\n", "<think>\n\n</think>\n\n", THINK),
    "qwen3.6": ("<|im_start|>assistant\n", "<think>\n", "<think>\n", "<think>\n\n</think>\n\n", THINK),
    "qwq-32b": ("<|im_start|>assistant\n", "<think>\n", "<think>\n", "", THINK),
    "deepseek-r1-distill-qwen": ("<｜Assistant｜>", "<think>\n", "<think>\n", "", THINK),
    "deepseek-v3.1": ("<｜Assistant｜>", "</think>", "<think>", "</think>", "</think>"),  # thinking=True opens
    "kimi-k2-thinking": ("<|im_assistant|>assistant<|im_middle|>", "", "<think>", "<think></think>", "</think>"),
    "nemotron-nano-v2": ("<SPECIAL_11>Assistant\n", "<think>\n", "<think>\n", "", THINK),
    "seed-oss": (  # thinking_budget=0 is its switch: its own closed block, with its budget note
        "<seed:bos>assistant\n",
        "",
        "<seed:think>",
        "<seed:think>\n<seed:cot_budget_reflect>The current thinking budget is 0, so I will directly start "
        "answering the question.</seed:cot_budget_reflect>\n</seed:think>",
        "</seed:think>\n",
    ),
    "gemma-4": (
        "<|turn>model\n",
        "<|channel>thought\n<channel|>",
        "<|channel>thought\n",
        "<|channel>thought\n<channel|>",
        "\n<channel|>",
    ),
    # No closed analysis of its own: --reasoning none opens the final channel, where the answer goes.
    "gpt-oss": (
        "<|start|>assistant",
        "",
        "<|channel|>analysis<|message|>",
        "<|channel|>final<|message|>",
        "<|end|><|start|>assistant<|channel|>final<|message|>",
    ),
    "smollm3": ("<|im_start|>assistant\n", "", "<think>\n", "<think>\n\n</think>\n", THINK),
    "magistral-small-2509": ("[/INST]", "", "[THINK]", "", "[/THINK]"),
    # No reasoning style: the inline text block.
    "deepseek-v3": ("<｜Assistant｜>", "", "<think>\n", "", THINK),
    "llama-3.1": ("<|start_header_id|>assistant<|end_header_id|>\n\n", "", "<think>\n", "", THINK),
    "gemma-3": ("<start_of_turn>model\n", "", "<think>\n", "", THINK),
    "granite-3.3": ("<|start_of_role|>assistant<|end_of_role|>", "", "<think>\n", "", THINK),
}
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


@functools.cache
def _load(path: str):
    return detect(tokenizers.load(path))


def ends(prompt: str, tail: str) -> None:
    assert prompt.endswith(tail), (prompt[-120:], tail)


def test_every_folder_has_expectations(tokenizers_dir):
    assert sorted(p.name for p in tokenizers_dir.iterdir() if p.is_dir()) == sorted(FAMILIES)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_in_its_own_hand(tokenizers_dir, family):
    t = _load(str(tokenizers_dir / family))
    header, native, opened, none, closing = FAMILIES[family]
    assert steer(t) == t.tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    ends(steer(t), header + native)
    ends(steer(t, reasoning="open"), header + opened)
    ends(steer(t, reasoning="none"), header + none)
    for preset, (text, closes) in PRESETS.items():
        ends(steer(t, prefix=preset), header + opened + text + (closing if closes else ""))
    ends(steer(t, prefix="Hmm.", close=True, response_prefix="So"), header + opened + "Hmm." + closing + "So")


def test_gpt_oss_response_prefix_goes_in_the_final_channel(tokenizers_dir):
    t = _load(str(tokenizers_dir / "gpt-oss"))
    for options in ({"reasoning": "none"}, {}):  # the final channel opened once, by --reasoning none or for the prefix
        prompt = steer(t, response_prefix="The answer is", **options)
        ends(prompt, "<|start|>assistant<|channel|>final<|message|>The answer is")
        assert prompt.count("<|channel|>final") == 1


def test_seed_oss_opens_and_closes_in_its_own_tags(tokenizers_dir):
    """Class 8 of issue 9: Seed-OSS's block is <seed:think>…</seed:think>, never <think>."""
    t = _load(str(tokenizers_dir / "seed-oss"))
    prompt = steer(t, prefix="Hmm.", close=True, response_prefix="So")
    ends(prompt, "<seed:bos>assistant\n<seed:think>Hmm.</seed:think>\nSo")
    assert "<think>" not in prompt and "</think>" not in prompt


def test_prefixed_prompts_are_left_byte_for_byte(tokenizers_dir):
    for family in ("deepseek-r1-distill-qwen", "qwq-32b", "qwen3.6", "nemotron-nano-v2"):
        t = _load(str(tokenizers_dir / family))
        assert steer(t, reasoning="open") == t.tokenizer.apply_chat_template(
            CHAT, tokenize=False, add_generation_prompt=True
        )


def test_thinking_turned_off_by_the_user_cannot_be_reopened(tokenizers_dir):
    t = detect(tokenizers.load(str(tokenizers_dir / "qwen3")), {"enable_thinking": False})
    with pytest.raises(UsageError, match="already holds a closed reasoning block"):
        Steerer(t, SteerOptions(prefix="brief"))
    assert steer(t).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
