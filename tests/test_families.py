"""tp mask on every real family in ../shared/tokenizers: the trained text, decoded, equals the text
written out here by hand from each template's behaviour (MANIFEST.md and the templates
themselves), for every --mask combination, single and multi-turn, with and without reasoning,
last or all turns trained, and in no-think mode (the template's own switch off). Tool calls are in test_tool_turns.py.

Each folder's tokenizer loads once per session; the tests skip without ../shared.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from labels import A1, MASKS, R1, A, R, check_audit, expected_token_runs, multi, single, trained_runs

from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.mask import Masker, MaskOptions, parse_mask

SHARED_TOKENIZERS = Path(__file__).resolve().parents[2] / "shared" / "tokenizers"

EOS = {
    "qwen3": "<|im_end|>",
    "qwen3-thinking-2507": "<|im_end|>",
    "qwen3.6": "<|im_end|>",
    "qwq-32b": "<|im_end|>",
    "smollm3": "<|im_end|>",
    "deepseek-r1-distill-qwen": "<｜end▁of▁sentence｜>",
    "deepseek-v3": "<｜end▁of▁sentence｜>",
    "deepseek-v3.1": "<｜end▁of▁sentence｜>",
    "magistral-small-2509": "</s>",
    "llama-3.1": "<|eot_id|>",
    "gemma-3": "<end_of_turn>",
    "gemma-4": "<turn|>",
    "gpt-oss": "<|return|>",
    "kimi-k2-thinking": "<|im_end|>",
    "nemotron-nano-v2": "\n<SPECIAL_12>",
    "seed-oss": "<seed:eos>",
    "granite-3.3": "<|end_of_text|>",
}
TEXT = ("llama-3.1", "gemma-3", "deepseek-v3", "granite-3.3")  # no reasoning style: inline <think> text
STYLES = {
    "qwen3": "native",
    "qwen3-thinking-2507": "native",
    "qwen3.6": "native",
    "kimi-k2-thinking": "native",
    "seed-oss": "native",
    "gemma-4": "native",
    "gpt-oss": "harmony",
    "deepseek-r1-distill-qwen": "prefixed",
    "qwq-32b": "prefixed",
    "nemotron-nano-v2": "prefixed",
    "deepseek-v3.1": "prefixed",
    "smollm3": "inline",
    "magistral-small-2509": "bracket",
    **{f: "text" for f in TEXT},
}
FAMILIES = (
    sorted(p.name for p in SHARED_TOKENIZERS.iterdir() if p.is_dir()) if SHARED_TOKENIZERS.is_dir() else sorted(EOS)
)


@functools.cache
def load(path: str):
    return tokenizers.load(path)


@functools.cache
def template(tokenizers_dir: Path, family: str):
    return detect(load(str(tokenizers_dir / family)))


def turn(
    family: str, reasoning: str | None, answer: str, last: bool, trained: bool, thinking: bool, empty: bool
) -> list[tuple[str, str]]:
    """The (part, text) segments of an assistant turn as tp renders it for ``family``: its reasoning
    block (think; "given" where the generation prompt holds it) and, when trained, its answer."""
    e = EOS[family]
    f = family
    if f in TEXT or f == "seed-oss" or f == "smollm3" and reasoning is not None:
        if f == "seed-oss":
            block, after = "<seed:think>{}</seed:think>", "\n"
        else:
            block, after = "<think>\n{}\n</think>", "\n\n"
        if reasoning is not None:
            return [("think", block.format(reasoning)), ("answer", f"{after}{answer}{e}")]
        return [("answer", f"{answer}{e}")]
    if f == "smollm3" or f == "magistral-small-2509":  # keep history; an empty block in trained turns
        if f == "magistral-small-2509" and reasoning is not None:
            return [("think", f"[THINK]{reasoning}[/THINK]"), ("answer", f"{answer}{e}")]
        if trained and empty:
            if f == "smollm3":  # SmolLM3's own empty block (its /no_think form) ends with one newline
                return [("think", "<think>\n\n</think>"), ("answer", f"\n{answer}{e}")]
            return [("think", "[THINK][/THINK]"), ("answer", f"{answer}{e}")]
        return [("answer", f"{answer}{e}")]
    if f == "gpt-oss":
        if not last:
            return [("answer", f"<|channel|>final<|message|>{answer}<|end|>")]
        if reasoning is None:
            return [("answer", f"<|channel|>final<|message|>{answer}{e}")]
        return [
            ("think", f"<|channel|>analysis<|message|>{reasoning}<|end|>"),
            ("answer", f"<|start|>assistant<|channel|>final<|message|>{answer}{e}"),
        ]
    if f == "kimi-k2-thinking":  # its own <think></think> in every turn; reasoning only in the last
        inner = reasoning if last and reasoning is not None else ""
        return [("think", f"<think>{inner}</think>"), ("answer", f"{answer}{e}")]
    if f == "deepseek-v3.1":  # a bare </think> is its closed block; thinking on opens with <think>
        if last and reasoning is not None:
            return [("given", "<think>"), ("think", f"{reasoning}</think>"), ("answer", f"{answer}{e}")]
        return [("given" if trained and not thinking else "think", "</think>"), ("answer", f"{answer}{e}")]
    if f == "gemma-4":
        if not last:
            return [("answer", f"{answer}{e}")]
        if reasoning is None:  # thinking off: the generation prompt's empty channel, given
            return [("given", "<|channel>thought\n<channel|>"), ("answer", f"{answer}{e}")]
        return [("think", f"<|channel>thought\n{reasoning}\n<channel|>"), ("answer", f"{answer}{e}")]
    # The <think>\n…\n</think>\n\n families that drop history reasoning.
    if not last:
        cut = reasoning is not None and f in ("deepseek-r1-distill-qwen",)  # R1 keeps the "\n\n" after </think>
        return [("answer", f"\n\n{answer}{e}" if cut else f"{answer}{e}")]
    prefixed = f in ("qwen3-thinking-2507", "qwen3.6", "deepseek-r1-distill-qwen", "qwq-32b", "nemotron-nano-v2")
    if reasoning is None and not (empty or f in ("qwen3", "qwen3-thinking-2507", "qwen3.6", "nemotron-nano-v2")):
        return [("answer", f"{answer}{e}")]  # R1 and QwQ write no block of their own
    inner = "" if reasoning is None else reasoning
    if prefixed:
        return [("given", "<think>\n"), ("think", f"{inner}\n</think>"), ("answer", f"\n\n{answer}{e}")]
    return [("think", f"<think>\n{inner}\n</think>"), ("answer", f"\n\n{answer}{e}")]


def test_every_folder_has_expectations(tokenizers_dir):
    assert sorted(p.name for p in tokenizers_dir.iterdir() if p.is_dir()) == sorted(EOS)


@pytest.mark.parametrize("family", FAMILIES)
def test_style(tokenizers_dir, family):
    assert template(tokenizers_dir, family).style == STYLES[family]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", ["single", "multi"])
@pytest.mark.parametrize("with_reasoning", [True, False], ids=["reasoning", "no-reasoning"])
def test_every_mask_trains_exactly_the_expected_text(tokenizers_dir, family, shape, with_reasoning):
    tok, t = load(str(tokenizers_dir / family)), template(tokenizers_dir, family)
    record = (single if shape == "single" else multi)(with_reasoning)
    for mask in MASKS:
        for train_all in (False, True):
            options = MaskOptions(mask=parse_mask(mask), train_all=train_all)
            out = Masker(t, options)([dict(record)])[0]
            where = f"{family} {shape} --mask {mask} train_all={train_all}"
            assert isinstance(out, dict), f"{where}: {out}"
            check_audit(out)
            turns = [(R, A, True)] if shape == "single" else [(R1, A1, False), (R, A, True)]
            segments = []
            for reasoning, answer, last in turns:
                trained = last or train_all
                parts = turn(
                    family,
                    reasoning if with_reasoning else None,
                    answer,
                    last,
                    trained,
                    with_reasoning,
                    "think" in options.mask,
                )
                segments += [(p, s) for p, s in parts if trained or p == "think"]
            assert trained_runs(tok, out) == expected_token_runs(tok, out, segments, options.mask), where


# No-think mode: the template's own switch turned off with --template-kwargs, records without
# reasoning. family: (kwargs, a trained turn's segments, an untrained history turn's), given the
# answer and the end of turn. The generation prompt's closed block is "given": the model is given
# it at inference, so it trains only when neither prompt nor think is masked.
def _no_think(given: str, after: str = "", history_block: str | None = None):
    """The segments of a trained turn (``last``, or a history turn: one the template writes no
    block in, unless it has ``history_block``) and of an untrained history turn."""

    def trained(answer: str, eos: str, last: bool = True) -> list[tuple[str, str]]:
        if not last and history_block is None:
            return [("answer", f"{answer}{eos}")]
        # What the generation prompt holds after the block is prompt: it trains with the prompt.
        return [("given", given), *([("prompt", after)] if after else []), ("answer", f"{answer}{eos}")]

    def untrained(answer: str) -> list[tuple[str, str]]:
        return [("think", history_block)] if history_block else []

    return trained, untrained


NO_THINK = {
    "deepseek-v3.1": ({"thinking": False}, *_no_think("</think>", history_block="</think>")),
    "gemma-4": ({"enable_thinking": False}, *_no_think("<|channel>thought\n<channel|>")),
    "qwen3": ({"enable_thinking": False}, *_no_think("<think>\n\n</think>", "\n\n")),
    "qwen3.6": ({"enable_thinking": False}, *_no_think("<think>\n\n</think>", "\n\n")),
    "smollm3": ({"enable_thinking": False}, *_no_think("<think>\n\n</think>", "\n", "<think>\n\n</think>")),
    "seed-oss": (  # thinking_budget=0: its closed block carries its budget note
        {"thinking_budget": 0},
        *_no_think(
            "<seed:think>\n<seed:cot_budget_reflect>The current thinking budget is 0, so I will directly start "
            "answering the question.</seed:cot_budget_reflect>\n</seed:think>"
        ),
    ),
    "granite-3.3": (
        {"thinking": False},
        lambda answer, eos, last=True: [("answer", f"{answer}{eos}")],
        lambda answer: [],
    ),
}


def test_no_think_covers_every_family_with_a_switch(tokenizers_dir):
    switched = {f for f in FAMILIES if template(tokenizers_dir, f).switch is not None}
    assert switched == set(NO_THINK)
    for family, (kwargs, _, _) in NO_THINK.items():
        assert template(tokenizers_dir, family).switch[0] == next(iter(kwargs))


@pytest.mark.parametrize("family", sorted(NO_THINK))
@pytest.mark.parametrize("shape", ["single", "multi"])
def test_no_think_mode_trains_exactly_the_expected_text(tokenizers_dir, family, shape):
    kwargs, trained_turn, untrained_turn = NO_THINK[family]
    tok = load(str(tokenizers_dir / family))
    t = detect(tok, kwargs)
    record = (single if shape == "single" else multi)(False)
    for mask in MASKS:
        for train_all in (False, True):
            options = MaskOptions(mask=parse_mask(mask), train_all=train_all)
            out = Masker(t, options)([dict(record)])[0]
            where = f"{family} {shape} no-think --mask {mask} train_all={train_all}"
            assert isinstance(out, dict), f"{where}: {out}"
            check_audit(out)
            segments = []
            if shape == "multi":
                segments += trained_turn(A1, EOS[family], last=False) if train_all else untrained_turn(A1)
            segments += trained_turn(A, EOS[family])
            assert trained_runs(tok, out) == expected_token_runs(tok, out, segments, options.mask), where
