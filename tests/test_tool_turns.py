"""tp mask on tool-calling turns, every family in ../shared/tokenizers: a calling turn's reasoning
is think, its calls train with the answer (through the token that hands over to the tool), tool
results are prompt. The trained text, decoded, equals the text written out here by hand from each
template's behaviour, for every --mask combination, last or all turns trained; and the 50
LLaMA-Factory tool records in ../shared/corpus/sft all mask, or are refused for the one reason
their family states. The tests skip without ../shared.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import pytest
from labels import A_TOOL as A
from labels import MASKS, RC, RESULT, RF, check_audit, expected_token_runs, trained_runs
from labels import tool_record as record

from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.errors import RecordError
from thinkpack_cli.mask import Masker, MaskOptions, describe, parse_mask
from thinkpack_cli.records import conversation, tools

QWEN_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'
QWEN_FINAL = [("think", f"<think>\n{RF}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")]
PREFIXED_FINAL = [("given", "<think>\n"), ("think", f"{RF}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")]
V31_CALL = (
    '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>'
    "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
)
KIMI_CALL = (
    '<|tool_calls_section_begin|><|tool_call_begin|>call_1<|tool_call_argument_begin|>{"city": "Paris"}'
    "<|tool_call_end|><|tool_calls_section_end|><|im_end|>"
)
GEMMA_CALL = '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|><|tool_response>'
GPT_CALL = ' to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>'
NEMOTRON_CALL = '<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</TOOLCALL>\n<SPECIAL_12>'
MAGISTRAL_CALL = '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}</s>'
SEED_CALL = "\n<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>\n</seed:tool_call><seed:eos>"
QWEN36_CALL = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call><|im_end|>"
)

# family: (the calling turn's segments, with a result after it / as the last turn; the final turn's).
# The calling turn's reasoning is where the template keeps it; where it leaves it out (history
# turns of Qwen3, QwQ, Nemotron, gpt-oss; every calling turn of DeepSeek-V3.1, whose calls are
# non-thinking) the segments have none.
EXPECTED = {
    "qwen3": (
        [("think", f"<think>\n{RC}\n</think>"), ("answer", f"\n\n{QWEN_CALL}")],
        [("think", f"<think>\n{RC}\n</think>"), ("answer", f"\n\n{QWEN_CALL}")],
        QWEN_FINAL,
    ),
    "qwen3-thinking-2507": (
        [("given", "<think>\n"), ("think", f"{RC}\n</think>"), ("answer", f"\n\n{QWEN_CALL}")],
        [("given", "<think>\n"), ("think", f"{RC}\n</think>"), ("answer", f"\n\n{QWEN_CALL}")],
        PREFIXED_FINAL,
    ),
    "qwen3.6": (
        [("given", "<think>\n"), ("think", f"{RC}\n</think>"), ("answer", f"\n\n{QWEN36_CALL}")],
        [("given", "<think>\n"), ("think", f"{RC}\n</think>"), ("answer", f"\n\n{QWEN36_CALL}")],
        PREFIXED_FINAL,
    ),
    # QwQ cuts history reasoning; its calls follow a newline; tp's block in the last turn keeps its "\n\n".
    "qwq-32b": (
        [("answer", f"\n{QWEN_CALL}")],
        [("given", "<think>\n"), ("think", f"{RC}\n</think>"), ("answer", f"\n\n\n{QWEN_CALL}")],
        PREFIXED_FINAL,
    ),
    "deepseek-v3.1": (
        [("think", "</think>"), ("answer", V31_CALL)],
        [("think", "</think>"), ("answer", V31_CALL)],
        [("think", f"<think>{RF}</think>"), ("answer", f"{A}<｜end▁of▁sentence｜>")],
    ),
    "kimi-k2-thinking": (
        [("think", "<think></think>"), ("answer", KIMI_CALL)],
        [("think", f"<think>{RC}</think>"), ("answer", KIMI_CALL)],
        [("think", f"<think>{RF}</think>"), ("answer", f"{A}<|im_end|>")],
    ),
    "gemma-4": (
        [("think", f"<|channel>thought\n{RC}\n<channel|>"), ("answer", GEMMA_CALL)],
        [("think", f"<|channel>thought\n{RC}\n<channel|>"), ("answer", GEMMA_CALL)],
        # The generation prompt after a tool result opens the thought channel: given.
        [("given", "<|channel>thought\n"), ("think", f"{RF}\n<channel|>"), ("answer", f"{A}<turn|>")],
    ),
    "gpt-oss": (
        [("answer", GPT_CALL)],
        [("think", f"<|channel|>analysis<|message|>{RC}<|end|>"), ("answer", f"<|start|>assistant{GPT_CALL}")],
        [
            ("think", f"<|channel|>analysis<|message|>{RF}<|end|>"),
            ("answer", f"<|start|>assistant<|channel|>final<|message|>{A}<|return|>"),
        ],
    ),
    # Nemotron renders a final calling turn as history, which has no reasoning.
    "nemotron-nano-v2": (
        [("answer", NEMOTRON_CALL)],
        [("answer", NEMOTRON_CALL)],
        [("given", "<think>\n"), ("think", f"{RF}\n</think>"), ("answer", f"\n\n{A}\n<SPECIAL_12>")],
    ),
    "magistral-small-2509": (
        [("think", f"[THINK]{RC}[/THINK]"), ("answer", MAGISTRAL_CALL)],
        [("think", f"[THINK]{RC}[/THINK]"), ("answer", MAGISTRAL_CALL)],
        [("think", f"[THINK]{RF}[/THINK]"), ("answer", f"{A}</s>")],
    ),
    "seed-oss": (
        [("think", f"<seed:think>{RC}</seed:think>"), ("answer", SEED_CALL)],
        [("think", f"<seed:think>{RC}</seed:think>"), ("answer", SEED_CALL)],
        [("think", f"<seed:think>{RF}</seed:think>"), ("answer", f"\n{A}<seed:eos>")],
    ),
}
# Templates that render no tool calls: their assistant turns show only text (DeepSeek-V3 and
# R1-Distill write calls only for a null content, which transformers drops before rendering).
NO_CALLS = ("deepseek-r1-distill-qwen", "deepseek-v3", "gemma-3", "granite-3.3", "llama-3.1", "smollm3")
FAMILIES = sorted([*EXPECTED, *NO_CALLS])
# Of the 50 LLaMA-Factory records, 31 hold tool calls: refused where the template renders none.
CORPUS_MASKED = {family: 50 for family in EXPECTED} | {family: 19 for family in NO_CALLS}


@functools.cache
def load(tokenizers_dir: Path, family: str):
    tok = tokenizers.load(str(tokenizers_dir / family))
    return tok, detect(tok)


def untrained(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An untrained turn's segments: only its reasoning block, which is think (given included)."""
    out: list[tuple[str, str]] = []
    for part, text in segments:
        if part in ("given", "think"):
            if out and out[-1][0] == "think":
                out[-1] = ("think", out[-1][1] + text)
            else:
                out.append(("think", text))
    return out


def test_every_folder_has_expectations(tokenizers_dir):
    assert sorted(p.name for p in tokenizers_dir.iterdir() if p.is_dir()) == FAMILIES


@pytest.mark.parametrize("family", sorted(EXPECTED))
@pytest.mark.parametrize("ends_with_call", [False, True], ids=["result-then-answer", "ends-with-call"])
def test_tool_turns_train_exactly_the_expected_text(tokenizers_dir, family, ends_with_call):
    tok, t = load(tokenizers_dir, family)
    calling_with_result, calling_last, final = EXPECTED[family]
    for mask in MASKS:
        for train_all in (False, True):
            options = MaskOptions(mask=parse_mask(mask), train_all=train_all)
            out = Masker(t, options)([record(ends_with_call)])[0]
            where = f"{family} --mask {mask} train_all={train_all}"
            assert isinstance(out, dict), f"{where}: {out}"
            check_audit(out)
            if ends_with_call:
                segments = calling_last
            else:
                segments = (calling_with_result if train_all else untrained(calling_with_result)) + final
            assert trained_runs(tok, out) == expected_token_runs(tok, out, segments, options.mask), where


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_the_render_is_the_templates_own(tokenizers_dir, family):
    """Rendered with the real texts, the template writes what tp labelled (markers changed nothing)."""
    _, t = load(tokenizers_dir, family)
    for ends_with_call in (False, True):
        rec = record(ends_with_call)
        for train_all in (False, True):
            t.render(conversation(rec), tools(rec), train_all, True, verify=True)


@pytest.mark.parametrize("family", NO_CALLS)
def test_a_template_without_calls_refuses_in_one_line(tokenizers_dir, family):
    _, t = load(tokenizers_dir, family)
    out = Masker(t)([record(False)])[0]
    assert isinstance(out, RecordError)
    assert str(out).startswith(f"the chat template of {family} renders no tool calls (")
    assert "\n" not in str(out)


@pytest.fixture(scope="module")
def tool_records(corpus_dir):
    path = corpus_dir / "sft" / "llamafactory_reason_tool_use_demo_50.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("family", FAMILIES)
def test_llamafactory_tool_records_mask_or_are_refused_for_the_stated_reason(tokenizers_dir, tool_records, family):
    _, t = load(tokenizers_dir, family)
    masker = Masker(t, MaskOptions(train_all=True))
    results, tally, _ = masker.batch(tool_records)
    masked = [r for r in results if isinstance(r, dict)]
    reasons = Counter(str(r) for r in results if isinstance(r, RecordError))
    assert len(masked) == CORPUS_MASKED[family], reasons
    assert len(reasons) <= 1 and all("renders no tool calls" in reason for reason in reasons), reasons
    for out in masked:
        check_audit(out)
        assert out["answer_tokens"] > 0 and out["trained_tokens"] > 0
    lines = describe(tally, masker.options, t)
    if not t.lists_tools:  # tools the template leaves out are reported, never silently lost
        assert any("does not render" in line for line in lines), lines
    # Every record tp masks is the template's own render, checked on the real texts, except where a
    # text quotes a delimiter the template would cut at (tp keeps the text whole).
    for rec in tool_records:
        messages = conversation(rec)
        if any(t.format.close_re.search(m.content + (m.reasoning or "")) for m in messages):
            continue
        try:
            t.render(messages, tools(rec), True, True, verify=True)
        except RecordError as e:
            assert "renders no tool calls" in str(e)


def test_tool_results_are_never_trained(tokenizers_dir):
    """Whatever the mask, a tool result's text is prompt: it trains only when the prompt does."""
    for family in EXPECTED:
        tok, t = load(tokenizers_dir, family)
        for mask in ("think", "prompt", "prompt,think"):
            out = Masker(t, MaskOptions(mask=parse_mask(mask), train_all=True))([record(False)])[0]
            trained = "".join(trained_runs(tok, out))
            assert (RESULT in trained) == ("prompt" not in mask), (family, mask)


# A calling turn with text: the text and the calls both train; Gemma-4 writes the calls (and the
# results, inside the same turn) before the text, and the text runs on into the next turn's block
# (which follows text, not a result, so no generation prompt opened it).
SAID = "Let me check."
WITH_TEXT = {
    "qwen3": [("think", f"<think>\n{RC}\n</think>"), ("answer", f"\n\n{SAID}\n{QWEN_CALL}"), *QWEN_FINAL],
    "kimi-k2-thinking": [
        ("think", "<think></think>"),
        ("answer", f"{SAID}{KIMI_CALL}"),
        ("think", f"<think>{RF}</think>"),
        ("answer", f"{A}<|im_end|>"),
    ],
    "gemma-4": [
        ("think", f"<|channel>thought\n{RC}\n<channel|>"),
        ("answer", GEMMA_CALL),
        ("answer", SAID),
        ("think", f"<|channel>thought\n{RF}\n<channel|>"),
        ("answer", f"{A}<turn|>"),
    ],
}


@pytest.mark.parametrize("family", sorted(WITH_TEXT))
def test_a_calling_turn_with_text_trains_both(tokenizers_dir, family):
    tok, t = load(tokenizers_dir, family)
    rec = record(False)
    rec["messages"][2] = {**rec["messages"][2], "content": SAID}
    for mask in MASKS:
        options = MaskOptions(mask=parse_mask(mask), train_all=True)
        out = Masker(t, options)([rec])[0]
        assert isinstance(out, dict), out
        check_audit(out)
        assert trained_runs(tok, out) == expected_token_runs(tok, out, WITH_TEXT[family], options.mask), (family, mask)
    t.render(conversation(rec), tools(rec), True, True, verify=True)
