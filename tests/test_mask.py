"""tp mask: labels from one tokenization, checked against texts written down by hand.

Self-contained tests use the tiny tokenizer and templates of tiny_chat.py; the every-family
matrix is test_families.py, tool turns and no-think mode test_tool_turns.py. Every check decodes
the trained tokens and compares them with the text that should train, exactly.
"""

from __future__ import annotations

import functools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tiny_chat
from labels import A1, MASKS, R1, A, Q, R, check_audit, expected_runs, expected_token_runs, multi, single, trained_runs
from labels import decode as _decode

from thinkpack_cli import mask as masking
from thinkpack_cli import streams
from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.detect import detect
from thinkpack_cli.errors import RecordError, UsageError
from thinkpack_cli.mask import Masker, MaskOptions, parse_mask


@functools.cache
def shared(tokenizers_dir, name: str):
    return tokenizers.load(str(tokenizers_dir / name))


def mask_one(tok, record: dict, **options) -> dict | RecordError | None:
    if "mask" in options:
        options["mask"] = parse_mask(options["mask"])
    return Masker(detect(tok), MaskOptions(**options))([record])[0]


# ---------------------------------------------------------------------------- self-contained


@functools.cache
def tiny(template: str = tiny_chat.INLINE, think_tokens: bool = True):
    return tiny_chat.tokenizer(template, think_tokens)


TINY_LAST = {  # template: the (part, text) of the last turn, given reasoning R
    "INLINE": [("think", f"<think>\n{R}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")],
    "NATIVE": [("think", f"<think>\n{R}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")],
    # Put back by tp; the generation prompt's "<think>\n" is given: it trains only with the prompt.
    "PREFIXED": [("given", "<think>\n"), ("think", f"{R}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")],
}


@pytest.mark.parametrize("template", list(TINY_LAST))
@pytest.mark.parametrize("mask", MASKS)
def test_trained_text_is_exactly_the_unmasked_spans(template, mask):
    tok = tiny(getattr(tiny_chat, template))
    out = mask_one(tok, single(True), mask=mask)
    text = _decode(tok, out["input_ids"])
    segments = TINY_LAST[template]
    assert text == f"<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\n" + "".join(t for _, t in segments) + "\n"
    assert trained_runs(tok, out) == expected_runs(text, segments, parse_mask(mask))
    check_audit(out)


def test_default_masks_prompt_and_think_and_trains_the_end_of_turn_token():
    tok = tiny()
    out = mask_one(tok, single(True))
    assert trained_runs(tok, out) == [f"\n\n{A}<|im_end|>"]
    assert out["trained_tokens"] == out["answer_tokens"] and out["think_tokens"] > 0


def test_a_token_straddling_a_boundary_is_not_trained():
    # The tiny BPE merges the header's "\n" with the answer's first letters ("tant\nThe answ"):
    # that token holds prompt text, so it is masked, and the answer trains from the next token.
    tok = tiny()
    out = mask_one(tok, single(False), empty_think=False)
    encoding = tok.backend_tokenizer.encode(_decode(tok, out["input_ids"]), add_special_tokens=False)
    text = _decode(tok, out["input_ids"])
    answer_start = text.index(A)
    straddler = next(t for t, (s, e) in enumerate(encoding.offsets) if s < answer_start < e)
    assert out["labels"][straddler] == -100
    assert out["labels"][straddler + 1] == out["input_ids"][straddler + 1]
    after = encoding.offsets[straddler][1]
    assert trained_runs(tok, out) == [text[after : text.index("<|im_end|>", answer_start) + len("<|im_end|>")]]
    end_of_turn = out["input_ids"].index(tok.convert_tokens_to_ids("<|im_end|>"), straddler)
    assert out["answer_tokens"] == end_of_turn - straddler  # the straddler counts where it starts: prompt


def test_a_character_split_over_byte_tokens_trains_only_when_all_of_them_do(tokenizers_dir):
    # DeepSeek-V3 splits " 😀" into "Ġð..." (space and first bytes) and the emoji's last byte: with
    # a boundary between the space and the emoji, neither token may train.
    tok = shared(tokenizers_dir, "deepseek-v3")
    text = "Hi 😀 ok"
    encoding = tok.backend_tokenizer.encode(text, add_special_tokens=False)
    assert encoding.offsets[1:3] == [(2, 4), (3, 4)]
    at = masking._Boundaries(encoding, text, len(encoding.ids))
    assert at.inside(3, len(text)) == (3, len(encoding.ids))
    assert at.inside(0, 3) == (0, 1)


def test_records_without_reasoning_get_an_empty_masked_block_when_think_is_masked():
    tok = tiny(tiny_chat.HYBRID)  # a model with a thinking mode (its template has a switch)
    out = mask_one(tok, single(False))
    text = _decode(tok, out["input_ids"])
    assert "<|im_start|>assistant\n<think>\n\n</think>\n\n" + A in text
    assert trained_runs(tok, out) == [f"\n\n{A}<|im_end|>"]
    assert out["think_tokens"] == 4  # <think>, \n, \n, </think>


@pytest.mark.parametrize(
    "options", [{"empty_think": False}, {"mask": "prompt"}], ids=["no-empty-think", "think-trained"]
)
def test_no_empty_block_when_turned_off_or_think_is_trained(options):
    tok = tiny(tiny_chat.HYBRID)
    out = mask_one(tok, single(False), **options)
    assert "<think>" not in _decode(tok, out["input_ids"]) and out["think_tokens"] == 0


def test_no_empty_block_for_a_model_without_a_thinking_mode():
    # Think tokens in the vocabulary, but no switch, no prefix, no field: Qwen3-Instruct-2507's case.
    tok = tiny(tiny_chat.INLINE)
    assert not detect(tok).thinking_mode
    out = mask_one(tok, single(False))
    assert "<think>" not in _decode(tok, out["input_ids"]) and out["think_tokens"] == 0


def test_cut_reasoning_is_put_back_and_counted():
    tok = tiny(tiny_chat.PREFIXED)
    masker = Masker(detect(tok))
    [out], tally, _ = masker.batch([single(True)])
    assert f"<|im_start|>assistant\n<think>\n{R}\n</think>\n\n{A}" in _decode(tok, out["input_ids"])
    assert tally["reinserted"] == 1
    assert any("put it back" in line for line in masking.describe(tally, masker.options, masker.template))


@pytest.mark.parametrize("template, think_kept", [("INLINE", True), ("NATIVE", False), ("PREFIXED", False)])
def test_train_all_turns_follows_the_template_for_history_reasoning(template, think_kept):
    tok = tiny(getattr(tiny_chat, template))
    masker = Masker(detect(tok), MaskOptions(mask=parse_mask("prompt"), train_all=True))
    [out], tally, _ = masker.batch([multi(True)])
    history = f"<think>\n{R1}\n</think>\n\n{A1}<|im_end|>" if think_kept else f"{A1}<|im_end|>"
    runs = trained_runs(tok, out)
    last = "".join(t for p, t in TINY_LAST[template] if p != "given")
    assert runs[0].endswith(history) and runs[1] == last
    assert (f"<think>\n{R1}" in runs[0]) == think_kept
    assert tally["history_dropped"] == (0 if think_kept else 1)


def test_train_last_turn_keeps_history_in_the_prompt():
    tok = tiny(tiny_chat.INLINE)
    out = mask_one(tok, multi(True), mask="prompt,think")
    assert trained_runs(tok, out) == [f"\n\n{A}<|im_end|>"]
    assert f"<think>\n{R1}\n</think>\n\n{A1}" in _decode(tok, out["input_ids"])  # context, not trained


def test_max_length_truncates_or_drops_and_the_summary_says_so():
    tok = tiny()
    full = mask_one(tok, single(True))
    n = len(full["input_ids"])
    masker = Masker(detect(tok), MaskOptions(max_length=n - 3))
    [out], tally, _ = masker.batch([single(True)])
    assert out["input_ids"] == full["input_ids"][: n - 3] and out["labels"] == full["labels"][: n - 3]
    assert out["truncated"] and tally["truncated"] == 1
    check_audit(out)
    assert f"1 records truncated to --max-length {n - 3} tokens" in masking.describe(
        tally, masker.options, masker.template
    )
    masker = Masker(detect(tok), MaskOptions(max_length=n - 3, overflow="drop"))
    [out], tally, _ = masker.batch([single(True)])
    assert out is None and tally["dropped"] == 1
    assert not Masker(detect(tok), MaskOptions(max_length=n)).batch([single(True)])[0][0]["truncated"]


def test_ignore_index():
    tok = tiny()
    out = mask_one(tok, single(True), ignore_index=-1)
    assert -100 not in out["labels"] and out["labels"].count(-1) == len(out["labels"]) - out["trained_tokens"]
    assert trained_runs(tok, out, ignore_index=-1) == [f"\n\n{A}<|im_end|>"]


@pytest.mark.parametrize(
    "text, parts",
    [
        ("think,prompt", {"think", "prompt"}),
        ("response", {"answer"}),
        (" Think , ANSWER ", {"think", "answer"}),
        ("none", set()),
    ],
)
def test_parse_mask(text, parts):
    assert parse_mask(text) == parts


@pytest.mark.parametrize("text", ["", "thinking", "prompt,think,answer", "none,think"])
def test_parse_mask_rejects(text):
    with pytest.raises(UsageError):
        parse_mask(text)


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"text": "hello"}, "neither a chat record ('messages') nor an instruction record"),
        ({"instruction": "q"}, "no response field"),
        ({"instruction": "q", "response": "<think>never closed"}, "opens a reasoning block that never closes"),
        (
            {"instruction": "q", "reasoning": "r", "response": "<think>r2</think>a"},
            "reasoning given twice, differently",
        ),
        ({"messages": [{"role": "user", "content": "q"}]}, "the last message is from 'user'"),
        ({"messages": [{"role": "robot", "content": "q"}]}, "messages[0] has role 'robot'"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}, {"role": "assistant", "content": "a"}]},
            "messages[0].content[0] is a part of type 'image_url'",
        ),
        ({"instruction": 7, "response": "a"}, "field 'instruction' is a number"),
    ],
)
def test_bad_records_say_what_is_wrong(record, reason):
    result = mask_one(tiny(), record)
    assert isinstance(result, RecordError) and reason in str(result)


def test_a_template_that_rewrites_the_answer_is_reported_not_mislabelled():
    result = mask_one(tiny(tiny_chat.SHOUTING), single(False), empty_think=False)
    assert isinstance(result, RecordError) and "rewrites this record's assistant text" in str(result)


def test_reasoning_on_a_template_without_any_goes_inline_as_text_and_is_think():
    tok = tiny(tiny_chat.INLINE, think_tokens=False)
    t = detect(tok)
    assert t.style == "text"
    masker = Masker(t, MaskOptions(mask=parse_mask("prompt")))
    [out], tally, _ = masker.batch([single(True)])
    text = _decode(tok, out["input_ids"])
    assert text.endswith(f"<|im_start|>assistant\n<think>\n{R}\n</think>\n\n{A}<|im_end|>\n")
    segments = [("think", f"<think>\n{R}\n</think>"), ("answer", f"\n\n{A}<|im_end|>")]
    for mask in MASKS:
        out = mask_one(tok, single(True), mask=mask)
        assert trained_runs(tok, out) == expected_token_runs(tok, out, segments, parse_mask(mask)), mask
    summary = masking.describe(tally, masker.options, t)
    assert sum("has no reasoning style" in line for line in summary) == 1
    assert "written inline in the assistant content as <think>…</think>" in " ".join(summary)
    # No thinking mode: a record without reasoning gets no block.
    assert "<think>" not in _decode(tok, mask_one(tok, single(False))["input_ids"])


def test_think_tags_pick_the_inline_tags():
    tok = tiny(tiny_chat.INLINE, think_tokens=False)
    t = detect(tok, think_tags=("<reasoning>", "</reasoning>"))
    out = Masker(t, MaskOptions(mask=parse_mask("prompt")))([single(True)])[0]
    text = _decode(tok, out["input_ids"])
    assert text.endswith(f"<|im_start|>assistant\n<reasoning>\n{R}\n</reasoning>\n\n{A}<|im_end|>\n")
    segments = [("think", f"<reasoning>\n{R}\n</reasoning>"), ("answer", f"\n\n{A}<|im_end|>")]
    assert trained_runs(tok, out) == expected_token_runs(tok, out, segments, parse_mask("prompt"))


def test_parse_output_with_raw_response_and_split_reasoning_is_read():
    record = {"prompt": Q, "response": f"<think>{R}</think>{A}", "reasoning": R, "answer": A, "status": "valid"}
    tok = tiny()
    assert trained_runs(tok, mask_one(tok, record, mask="prompt")) == ["".join(t for _, t in TINY_LAST["INLINE"])]


def test_content_parts_and_reasoning_parts_are_read():
    record = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "value": Q}]},
            {"role": "assistant", "content": [{"type": "reasoning", "value": R}, {"type": "text", "value": A}]},
        ]
    }
    tok = tiny()
    assert trained_runs(tok, mask_one(tok, record, mask="prompt")) == ["".join(t for _, t in TINY_LAST["INLINE"])]


def test_write_parquet_with_list_int32_columns(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [single(True), single(False), {"bad": 1}] * 3))
    masker, totals = Masker(detect(tiny())), masking.MaskTotals(show=1)
    summary = streams.write_job(
        [str(source)],
        masking.MaskBatch(masker, show=1),
        str(tmp_path / "out.parquet"),
        label="mask",
        types=masking.column_types(),
        fold=totals.fold,
        on_error="skip",
        workers=1,
    )
    tally, views = totals.tally, totals.views
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    assert table.schema.field("labels").type == pa.list_(pa.int32())
    assert table.schema.field("trained_tokens").type == pa.int32()
    assert (summary.read, summary.written, len(summary.skipped)) == (9, 6, 3)
    assert table.to_pylist()[0] == mask_one(tiny(), single(True))
    assert tally["records"] == 6 and len(views) == 1
    record_id, pieces = views[0]
    assert record_id == "s" and "".join(p for p, _, trained in pieces if trained) == f"\n\n{A}<|im_end|>"


def test_write_nothing_still_gives_the_columns(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("")
    streams.write_job(
        [str(source)],
        masking.MaskBatch(Masker(detect(tiny()))),
        str(tmp_path / "out.parquet"),
        label="mask",
        types=masking.column_types(),
        workers=1,
    )
    assert pq.read_table(tmp_path / "out.parquet").schema.field("labels").type == pa.list_(pa.int32())


# ---------------------------------------------------------------------------- the CLI


def test_cli_mask_writes_parquet_shows_and_summarises(tp, tmp_path):
    folder = tmp_path / "tiny"
    tiny().save_pretrained(folder)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [single(True), single(False)]))
    result = tp("mask", source, "-o", tmp_path / "out.parquet", "-t", folder, "--show", "1", "--max-length", "12")
    assert result.exit_code == 0, result.stderr
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 2
    assert "tp mask: 2 records read, 2 written, 0 skipped" in result.stderr
    assert "2 records truncated to --max-length 12 tokens" in result.stderr
    assert "⟦" not in result.stderr  # the answer lies beyond token 12: nothing trained to show


def test_cli_mask_show_marks_trained_tokens(tp, tmp_path):
    folder = tmp_path / "tiny"
    tiny().save_pretrained(folder)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(single(True)) + "\n")
    result = tp("mask", source, "-o", tmp_path / "out.jsonl", "-t", folder, "--show", "1", "-q")
    assert result.exit_code == 0, result.stderr
    assert f"</think>⟦\n\n{A}<|im_end|>⟧" in result.stderr
    assert "tp mask:" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mask", "thoughts"], "--mask takes prompt, think, answer"),
        (["--template-kwargs", "{oops"], "--template-kwargs is not valid JSON"),
        (
            ["--train-turns", "some"],
            "Invalid value for '--train-turns': Value error, 'some' is not one of 'last', 'all'.",
        ),
        (["--overflow", "wrap"], "Invalid value for '--overflow'"),
    ],
)
def test_cli_mask_bad_options_exit_2(tp, tmp_path, args, message):
    folder = tmp_path / "tiny"
    tiny().save_pretrained(folder)
    result = tp("mask", "-t", folder, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_cli_mask_bad_record_names_its_line(tp, tmp_path):
    folder = tmp_path / "tiny"
    tiny().save_pretrained(folder)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(single(True)) + "\n" + json.dumps({"prompt": "q"}) + "\n")
    result = tp("mask", source, "-o", tmp_path / "out.parquet", "-t", folder)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"tp: error: {source}:2: no response field")
