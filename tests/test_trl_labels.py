"""A second opinion from TRL: for every family in ../shared/tokenizers that TRL 1.16 ships a training
template for (``trl.chat_template_utils.get_training_chat_template``, or a template that already
has ``{% generation %}`` markers: SmolLM3), tp's labels with ``--mask prompt`` (everything the model
writes trained) and ``--mask prompt,think`` (answer only) are compared token by token with TRL's ``apply_chat_template(...,
return_assistant_tokens_mask=True)`` on the same conversation.

They differ only on purpose, each way in one line (README, "Labels and TRL"):

- HEADER: TRL trains the assistant turn header (``<｜Assistant｜>``, ``<|start|>assistant``, SmolLM3's
  ``<|im_start|>assistant\\n``); tp does not: the model is given it at inference.
- OPENING: TRL trains the ``<think>\\n`` a generation prompt already holds (R1-Distill, Qwen3.6); tp
  does not under ``--mask prompt``: the model is given it (it trains with the prompt).
- AFTER_END: TRL trains the newline after the end-of-turn token (Gemma-3, Qwen3.6, SmolLM3); tp
  stops at the token: the model stops there.
- THINK: under ``--mask prompt,think --no-empty-think`` (answer only) tp also masks the reasoning
  block TRL trains (without ``--no-empty-think`` tp adds an empty block TRL's templates leave out).
- HISTORY: TRL's R1-Distill and Qwen3.6 training templates keep history reasoning the shipped
  templates drop; tp labels the shipped template's text (and reports the dropped reasoning), so
  only the last turn is compared.

A token tp trains is always one TRL trains; a token only TRL trains must cover a character of the
header, the opening, the whitespace after an end token or (answer only) a reasoning block.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest
from labels import multi, single, tool_record

from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.markers import unmark_message
from thinkpack_cli.mask import Masker, MaskOptions, parse_mask
from thinkpack_cli.records import conversation, tools

trl_templates = pytest.importorskip("trl.chat_template_utils", reason="trl is in the test extra")

# family: the ways TRL's mask differs from tp's (see the module docstring).
DIFFERS = {
    "llama-3.1": set(),
    "gemma-3": {"AFTER_END"},
    "deepseek-r1-distill-qwen": {"HEADER", "OPENING", "HISTORY"},
    "gpt-oss": {"HEADER"},
    "qwen3.6": {"OPENING", "AFTER_END", "HISTORY"},
    "smollm3": {"HEADER", "AFTER_END"},
}
CONVERSATIONS = {
    "single": single(True),
    "single-no-reasoning": single(False),
    "multi": multi(True),
    "multi-no-reasoning": multi(False),
    "tools": tool_record(False),
    "ends-with-call": tool_record(True),
}
CALLS = {"gpt-oss", "qwen3.6"}  # the TRL families whose templates render tool calls (the rest: test_tool_turns.py)


@functools.cache
def load(tokenizers_dir: Path, family: str):
    """TRL's side with transformers' own tokenizer, as a TRL user has it; tp's template from tp's loader."""
    from transformers import AutoTokenizer

    path = str(tokenizers_dir / family)
    tok = AutoTokenizer.from_pretrained(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            training = trl_templates.get_training_chat_template(tok)
        except ValueError:  # TRL ships no training template for this one
            return tok, None, None
    if training is None and not trl_templates.has_generation_markers(tok.chat_template):
        return tok, None, None
    return tok, detect(tokenizers.load(path)), training or tok.chat_template


def test_trl_covers_the_families_expected(tokenizers_dir):
    covered = {p.name for p in tokenizers_dir.iterdir() if p.is_dir() and load(tokenizers_dir, p.name)[2]}
    assert covered == set(DIFFERS)


def _trl_mask(tok, t, training: str, record: dict) -> tuple[list[int], list[int]]:
    """TRL's ids and assistant mask for the conversation tp gives the template."""
    messages = conversation(record)
    chat, texts = t._chat(messages)
    thinking = True if any(m.reasoning is not None for m in messages) else None
    out = tok.apply_chat_template(
        [unmark_message(m, texts) for m in chat],
        tools=tools(record),
        chat_template=training,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        **t.render_kwargs(thinking),
    )
    return list(out["input_ids"]), list(out["assistant_masks"])


def _allowed(text: str, t, kinds: set[str]) -> list[bool]:
    """Per character, whether TRL may train it where tp does not."""
    allowed = [False] * len(text)
    marks = []
    if "HEADER" in kinds and t.header:
        marks += [(k, k + len(t.header)) for k in _all(text, t.header)]
    if "OPENING" in kinds:
        opening = t._given(True)
        marks += [(k, k + len(opening)) for k in _all(text, opening)] if opening else []
    if "AFTER_END" in kinds and t.end_of_turn is not None:
        for m in t.end_of_turn.finditer(text):
            k = m.end()
            while k < len(text) and text[k].isspace():
                k += 1
            marks.append((m.end(), k))
    for a, b in marks:
        allowed[a:b] = [True] * (b - a)
    return allowed


def _all(text: str, needle: str) -> list[int]:
    out, k = [], text.find(needle)
    while k >= 0:
        out.append(k)
        k = text.find(needle, k + 1)
    return out


CASES = [
    (family, shape)
    for family in sorted(DIFFERS)
    for shape in sorted(CONVERSATIONS)
    if family in CALLS or "tool_calls" not in str(CONVERSATIONS[shape])
]


@pytest.mark.parametrize(("family", "shape"), CASES)
@pytest.mark.parametrize("mask", ["prompt", "prompt,think"])
def test_tp_labels_agree_with_trl_up_to_the_documented_rules(tokenizers_dir, family, shape, mask):
    tok, t, training = load(tokenizers_dir, family)
    record = CONVERSATIONS[shape]
    # Answer only with --no-empty-think: else tp gives a turn without reasoning the family's empty
    # block, as the model sees at inference, which TRL's templates leave out (a different text).
    options = MaskOptions(mask=parse_mask(mask), train_all=True, empty_think="think" not in mask)
    out = Masker(t, options)([dict(record)])[0]
    ours = [label != -100 for label in out["labels"]]
    ids, theirs = _trl_mask(tok, t, training, record)
    kinds = DIFFERS[family] | ({"THINK"} if "think" in mask else set())
    rendered = t.render(conversation(record), tools(record), True, options.empty_think)
    if ids != out["input_ids"]:
        # Only TRL's template keeping history reasoning changes the text: compare the common tail,
        # which holds the whole last turn.
        assert "HISTORY" in kinds and shape.startswith("multi"), f"{family} {shape}: the texts differ"
        n = 0
        while n < min(len(ids), len(out["input_ids"])) and ids[-1 - n] == out["input_ids"][-1 - n]:
            n += 1
        assert any(ours[-n:]), f"{family} {shape}: the texts differ in the last turn"
        ids, theirs, ours = ids[-n:], theirs[-n:], ours[-n:]
    text = tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    encoding = tok.backend_tokenizer.encode(text, add_special_tokens=False)
    assert encoding.ids == ids
    allowed = _allowed(text, t, kinds)
    if "THINK" in kinds:  # answer-only: TRL's mask holds the reasoning too
        shift = len(rendered.text) - len(text)
        for a, b in rendered.think:
            allowed[max(a - shift, 0) : max(b - shift, 0)] = [True] * (max(b - shift, 0) - max(a - shift, 0))
    for k, ((a, b), mine, trl) in enumerate(zip(encoding.offsets, ours, theirs)):
        piece = text[a:b]
        assert not (mine and not trl), f"{family} {shape}: tp trains {piece!r} (token {k}), TRL does not"
        if trl and not mine:
            assert any(allowed[a:b]), (
                f"{family} {shape}: TRL trains {piece!r} (token {k}), tp does not, for no stated rule"
            )
    if not kinds:
        assert ours == [bool(x) for x in theirs]
