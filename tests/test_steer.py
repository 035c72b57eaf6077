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
from thinkpack_cli.errors import RecordError, UsageError
from thinkpack_cli.steer import PRESETS, Steerer, SteerOptions
from thinkpack_cli.template import detect

RECORD = {"system": "Be brief.", "instruction": "What is 2 + 2?", "response": "4"}


def steer(template, record=RECORD, **options) -> str:
    result = Steerer(template, SteerOptions(**options))([dict(record)])[0]
    if isinstance(result, RecordError):
        raise result
    return result["prompt"]


# ---------------------------------------------------------------------------- self-contained

TINY_BASE = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"


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
    chat = {"messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello!"},
                         {"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}]}
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


def test_open_needs_a_template_with_reasoning_delimiters():
    with pytest.raises(UsageError, match="has no reasoning block to open"):
        Steerer(detect(tiny_chat.tokenizer(tiny_chat.INLINE, think_tokens=False)), SteerOptions(prefix="brief"))


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

BASE = {  # the template's own generation prompt for RECORD, by hand from MANIFEST.md
    "qwen3": TINY_BASE,
    "qwq-32b": TINY_BASE + "<think>\n",
    "deepseek-r1-distill-qwen": "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2 + 2?<｜Assistant｜><think>\n",
    "magistral-small-2509": "<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]What is 2 + 2?[/INST]",
    "deepseek-v3": "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2 + 2?<｜Assistant｜>",
    "llama-3.1": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma-3": "<bos><start_of_turn>user\nBe brief.\n\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n",
    # Today's date is in these two; their prompts end as written here.
    "gpt-oss": "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant",
    "smollm3": "Be brief.\n\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
}
OPEN = {"qwen3": "<think>\n", "smollm3": "<think>\n", "qwq-32b": "", "deepseek-r1-distill-qwen": "",
        "magistral-small-2509": "[THINK]", "gpt-oss": "<|channel|>analysis<|message|>"}
CLOSE = {"qwen3": "\n</think>\n\n", "smollm3": "\n</think>\n\n", "qwq-32b": "\n</think>\n\n",
         "deepseek-r1-distill-qwen": "\n</think>\n\n", "magistral-small-2509": "[/THINK]",
         "gpt-oss": "<|end|><|start|>assistant<|channel|>final<|message|>"}
NO_BLOCK = {  # --reasoning none on the prefixed templates: their opened block removed, no blank line left
    "qwq-32b": TINY_BASE,
    "deepseek-r1-distill-qwen": "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2 + 2?<｜Assistant｜>",
}


@functools.cache
def _load(path: str):
    return detect(tokenizers.load(path))


def check(prompt: str, family: str, expected: str) -> None:
    if family in ("gpt-oss", "smollm3"):
        assert prompt.endswith(expected), (prompt[-200:], expected)
    else:
        assert prompt == expected


@pytest.mark.parametrize("family", list(OPEN))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_reasoning_family_and_preset(tokenizers_dir, family, preset):
    text, closes = PRESETS[preset]
    prompt = steer(_load(str(tokenizers_dir / family)), prefix=preset)
    check(prompt, family, BASE[family] + OPEN[family] + text + (CLOSE[family] if closes else ""))


@pytest.mark.parametrize("family", list(OPEN))
def test_every_reasoning_family_modes(tokenizers_dir, family):
    t = _load(str(tokenizers_dir / family))
    native = BASE[family]
    check(steer(t), family, native)
    check(steer(t, reasoning="open"), family, native + OPEN[family])
    check(steer(t, reasoning="none"), family, NO_BLOCK.get(family, native))
    check(steer(t, prefix="Hmm.", close=True, response_prefix="So"), family,
          native + OPEN[family] + "Hmm." + CLOSE[family] + "So")


def test_prefixed_prompts_are_left_byte_for_byte(tokenizers_dir):
    for family in ("deepseek-r1-distill-qwen", "qwq-32b"):
        t = _load(str(tokenizers_dir / family))
        chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
        assert steer(t, reasoning="open") == t.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("family", ["deepseek-v3", "llama-3.1", "gemma-3"])
def test_controls_steer_natively_and_refuse_to_open(tokenizers_dir, family):
    t = _load(str(tokenizers_dir / family))
    assert steer(t) == steer(t, reasoning="none") == BASE[family]
    assert steer(t, reasoning="native", response_prefix="The answer is") == BASE[family] + "The answer is"
    with pytest.raises(UsageError, match=f"the chat template of {family} has no reasoning block to open"):
        Steerer(t, SteerOptions(prefix="steps"))


def test_thinking_turned_off_cannot_be_reopened(tokenizers_dir):
    t = detect(tokenizers.load(str(tokenizers_dir / "qwen3")), {"enable_thinking": False})
    with pytest.raises(UsageError, match="already holds a closed reasoning block"):
        Steerer(t, SteerOptions(prefix="brief"))
    assert steer(t).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
