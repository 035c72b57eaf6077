"""Record-level parsing: text fields, dotted paths, lists, already-split records, errors,
pass-through, idempotence, the datasets.map shape, tokenizers, and the committed samples."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from thinkpack_cli.batches import parse_batch
from thinkpack_cli.errors import RecordError, UsageError
from thinkpack_cli.parse import OWNED_FIELDS, ParseOptions, Parser, parse_record

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
OWNED = ("reasoning", "answer", "status", "reasoning_format", "reasoning_tag")


def parsed(record, **options):
    """(status, reasoning, answer) of a copy of ``record``."""
    out = parse_record(copy.deepcopy(record), **options)
    return out["status"], out["reasoning"], out["answer"]


def test_owned_fields_are_the_documented_ones():
    assert OWNED_FIELDS == OWNED


# ------------------------------------------------------------------------------ text fields


@pytest.mark.parametrize(
    "record, expected",
    [
        pytest.param({"response": "<think>r</think>a", "output": "x"}, ("valid", "r", "a"), id="response-first"),
        pytest.param({"text": "t", "output": "<think>r</think>a"}, ("valid", "r", "a"), id="output-before-text"),
        pytest.param(
            {"completion": "c", "generated_text": "g"}, ("missing", None, "c"), id="completion-before-generated_text"
        ),
        pytest.param({"content": "r</think>a"}, ("valid", "r", "a"), id="content-last"),
    ],
)
def test_default_text_field(record, expected):
    assert parsed(record) == expected


def chat(content, reasoning=None, finish="stop"):
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"id": "cmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


CHOICE = "choices.0.message.content"


@pytest.mark.parametrize(
    "record, field, expected",
    [
        pytest.param(chat("<think>r</think>a"), CHOICE, ("valid", "r", "a"), id="inline-tags"),
        pytest.param(chat(" 4 ", " r "), CHOICE, ("valid", "r", "4"), id="split-stop"),
        pytest.param(chat("", "r", "length"), CHOICE, ("truncated", "r", ""), id="split-length-empty-answer"),
        pytest.param(chat(None, "r", "length"), CHOICE, ("truncated", "r", ""), id="split-length-null-content"),
        pytest.param(chat("4", "r", "length"), CHOICE, ("valid", "r", "4"), id="split-length-with-answer"),
        pytest.param(chat("4", ""), CHOICE, ("empty", "", "4"), id="split-empty-reasoning"),
        pytest.param(chat("", "r"), CHOICE, ("valid", "r", ""), id="split-stop-empty-answer"),
        pytest.param(
            chat("<think>x</think>y", "r"), CHOICE, ("valid", "r", "<think>x</think>y"), id="split-field-wins-over-tags"
        ),
        pytest.param(chat("a", "r"), "choices.-1.message.content", ("valid", "r", "a"), id="negative-index"),
        pytest.param({"out": {"text": "<think>r"}}, "out.text", ("truncated", "r", ""), id="nested-dict"),
    ],
)
def test_dotted_field(record, field, expected):
    assert parsed(record, field=field) == expected


@pytest.mark.parametrize(
    "record, expected",
    [
        pytest.param({"response": "4", "reasoning_content": "r"}, ("valid", "r", "4"), id="reasoning_content"),
        pytest.param({"response": "4", "reasoning": "r"}, ("valid", "r", "4"), id="reasoning"),
        pytest.param({"output": "4", "thinking": "r"}, ("valid", "r", "4"), id="thinking"),
        pytest.param(
            {"response": "4", "reasoning_content": "a", "reasoning": " a\n"},
            ("valid", "a", "4"),
            id="two-fields-agreeing",
        ),
        pytest.param({"output": "4", "thinking": None}, ("missing", None, "4"), id="null-sibling-ignored"),
        pytest.param(
            {"output": "4", "reasoning": {"effort": "high"}}, ("missing", None, "4"), id="object-sibling-ignored"
        ),
        pytest.param({"output": "", "thinking": "r"}, ("valid", "r", ""), id="blank-answer-no-finish-reason"),
        pytest.param(
            {"output": "", "thinking": "r", "finish_reason": "length"},
            ("truncated", "r", ""),
            id="top-level-finish-length",
        ),
        pytest.param({"output": None, "thinking": "r"}, ("valid", "r", ""), id="null-answer"),
        pytest.param({"reasoning_content": "r"}, ("valid", "r", ""), id="reasoning-alone"),
    ],
)
def test_already_split(record, expected):
    assert parsed(record) == expected


def test_two_different_reasoning_fields_are_an_error():
    """Picking one silently (reasoning_content, by list order) hid the other server's or tool's reasoning."""
    record = {"response": "4", "reasoning_content": "a", "thinking": "b"}
    with pytest.raises(
        RecordError,
        match="^two different reasoning fields, 'reasoning_content' and 'thinking': "
        "name the one to use with --reasoning-field$",
    ):
        parsed(record)
    assert parsed(record, reasoning_field="thinking") == ("valid", "b", "4")
    assert parsed(record, reasoning_field="reasoning_content") == ("valid", "a", "4")
    assert parsed({"response": "r</think>4"}, reasoning_field="thinking") == (
        "valid",
        "r",
        "4",
    )  # absent: split the text
    with pytest.raises(RecordError, match="two different reasoning fields"):
        parsed({"response": ["4", "5"], "reasoning_content": ["a", "b"], "reasoning": ["a", "c"]})


def test_list_field_gives_lists():
    out = parse_record({"response": ["<think>a</think>b", "c", "<think>d", "</think>e"]})
    assert out["status"] == ["valid", "missing", "truncated", "empty"]
    assert out["reasoning"] == ["a", None, "d", ""]
    assert out["answer"] == ["b", "c", "", "e"]
    assert out["reasoning_format"] == ["think", None, "think", "think"]
    assert out["reasoning_tag"] == ["<think>", None, "<think>", "</think>"]


def test_list_field_with_split_siblings():
    out = parse_record(
        {
            "response": ["x", "", "<think>r</think>y"],
            "reasoning_content": ["a", "b", None],
            "finish_reason": ["stop", "length", "stop"],
        }
    )
    assert out["status"] == ["valid", "truncated", "valid"]
    assert out["reasoning"] == ["a", "b", "r"]
    assert out["reasoning_format"] == ["field", "field", "think"]


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "record, options, message",
    [
        pytest.param({"response": None}, {}, "field 'response' is null, not a string", id="null"),
        pytest.param({"response": 4}, {}, "field 'response' is a number, not a string", id="number"),
        pytest.param({"response": {"text": "a"}}, {}, "field 'response' is an object, not a string", id="object"),
        pytest.param({"response": True}, {}, "field 'response' is a boolean, not a string", id="boolean"),
        pytest.param({"response": ["a", None]}, {}, "field 'response' is null, not a string", id="list-with-null"),
        pytest.param(
            {"answer": "a", "prompt": "p"},
            {},
            "no text field: looked for response, output, completion, generated_text, text, content (name one with --field)",
            id="no-text-field",
        ),
        pytest.param({"response": "a"}, {"field": "out.text"}, "no field 'out.text'", id="dotted-missing"),
        pytest.param({"choices": []}, {"field": CHOICE}, f"no field '{CHOICE}'", id="index-out-of-range"),
        pytest.param({"choices": {"0": 1}}, {"field": CHOICE}, f"no field '{CHOICE}'", id="through-a-number"),
        pytest.param(
            chat(5, "r"), {"field": CHOICE}, f"field '{CHOICE}' is a number, not a string", id="split-non-string-answer"
        ),
    ],
)
def test_record_errors(record, options, message):
    with pytest.raises(RecordError) as e:
        parse_record(record, **options)
    assert str(e.value) == message


def test_parser_returns_errors_in_place():
    out = Parser()([{"response": "a"}, {"response": None}, {"response": "<think>r"}])
    assert [o["status"] if isinstance(o, dict) else type(o).__name__ for o in out] == [
        "missing",
        "RecordError",
        "truncated",
    ]


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        Parser(ParseOptions(format="xml"))


# ------------------------------------------------------------------------------ prefixed by the prompt

R1_PROMPT = "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n"
MAGISTRAL_PROMPT = "[SYSTEM_PROMPT][THINK]thoughts[/THINK] then answer[/SYSTEM_PROMPT][INST]2+2?[/INST]"


@pytest.mark.parametrize(
    "record, options, expected",
    [
        pytest.param({"prompt": R1_PROMPT, "response": "r"}, {}, ("truncated", "r", ""), id="open-prompt-no-close"),
        pytest.param({"response": "r"}, {}, ("missing", None, "r"), id="no-prompt-no-close"),
        pytest.param(
            {"prompt": R1_PROMPT, "response": "r</think>a"},
            {"prefixed": False},
            ("valid", "r", "a"),
            id="record-prompt-beats-no-prefixed",
        ),
        pytest.param(
            {"prompt": "2+2?", "response": "r</think>a"},
            {"prefixed": False},
            ("missing", None, "r</think>a"),
            id="plain-prompt-no-prefixed",
        ),
        pytest.param(
            {"prompt": MAGISTRAL_PROMPT, "response": "r"}, {}, ("missing", None, "r"), id="magistral-prompt-closed"
        ),
        pytest.param(
            {"input": R1_PROMPT, "response": "r"},
            {"prompt_field": "input"},
            ("truncated", "r", ""),
            id="prompt-field-option",
        ),
        pytest.param(
            {"prompt": ["not", "a string"], "response": "r"}, {}, ("missing", None, "r"), id="non-string-prompt-ignored"
        ),
    ],
)
def test_prompt_marks_record_prefixed(record, options, expected):
    assert parsed(record, **options) == expected


STUDY_SYSTEM = "Reason inside <thinking> tags, then answer inside <output> tags."
CHATML_QUOTING = (
    f"<|im_start|>system\n{STUDY_SYSTEM}<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
)


@pytest.mark.parametrize(
    "prompt, expected",
    [
        pytest.param(f"{STUDY_SYSTEM}\n\nQ: 2+2?", ("missing", None, "4"), id="bare-prompt-quotes-a-tag"),
        pytest.param(CHATML_QUOTING, ("missing", None, "4"), id="system-text-quotes-a-tag"),
        pytest.param(CHATML_QUOTING + "<thinking>\n", ("truncated", "4", ""), id="generation-tail-opens"),
        pytest.param(
            f"{STUDY_SYSTEM}<｜User｜>Use <think> tags.<｜Assistant｜>",
            ("missing", None, "4"),
            id="user-text-quotes-a-tag",
        ),
    ],
)
def test_only_the_generation_tail_opens_a_block(prompt, expected):
    """A tag quoted in system or user text left the study's every output `truncated` and its answer empty."""
    assert parsed({"prompt": prompt, "response": "4"}) == expected


# ------------------------------------------------------------------------------ pass-through, idempotence


def test_other_fields_unchanged_and_in_order():
    record = {
        "id": 7,
        "meta": {"a": [1, {"b": None}]},
        "response": "<think>r</think>a",
        "gold": "4",
        "choices": [{"x": 1.5}],
        "unicode": "é≠🙂",
    }
    out = parse_record(copy.deepcopy(record))
    assert list(out) == [*record, *OWNED]
    assert {k: out[k] for k in record} == record


def test_owned_fields_are_overwritten_in_place():
    out = parse_record({"status": "old", "response": "<think>r</think>a", "x": 1})
    assert list(out) == ["status", "response", "x", "reasoning", "answer", "reasoning_format", "reasoning_tag"]
    assert out["status"] == "valid"


IDEMPOTENT = [
    pytest.param({"response": "<think>r</think>a"}, {}, id="think"),
    pytest.param({"response": "r</think>a"}, {}, id="close-only"),
    pytest.param({"response": "plain"}, {}, id="missing"),
    pytest.param({"response": ["<think>r</think>a", "b", "<think>c"]}, {}, id="list"),
    pytest.param({"response": "4", "reasoning_content": " r "}, {}, id="reasoning_content"),
    pytest.param({"response": "4", "reasoning": " r "}, {}, id="server-reasoning"),
    pytest.param({"output": "4", "thinking": " r "}, {}, id="thinking"),  # once re-tagged 'reasoning'
    pytest.param(
        {"response": ["x", "y"], "reasoning": ["a", "b"]}, {}, id="server-reasoning-list"
    ),  # once re-parsed as missing
    pytest.param({"response": ["<think>r</think>b", "y"], "reasoning": [None, "a"]}, {}, id="mixed-list"),
    pytest.param(chat("", "r", "length"), {"field": CHOICE}, id="dotted-split"),
]


@pytest.mark.parametrize("record, options", IDEMPOTENT)
def test_reparsing_is_idempotent(record, options):
    once = parse_record(copy.deepcopy(record), **options)
    assert parse_record(copy.deepcopy(once), **options) == once


# ------------------------------------------------------------------------------ datasets.map shape

BATCH = {"id": [1, 2, 3], "response": ["<think>r</think>a", "b", "<think>c"]}


def test_parse_batch_columns():
    out = parse_batch(copy.deepcopy(BATCH))
    assert list(out) == ["id", "response", *OWNED]
    assert out["id"] == [1, 2, 3] and out["response"] == BATCH["response"]
    assert out["status"] == ["valid", "missing", "truncated"]
    assert out["reasoning"] == ["r", None, "c"] and out["answer"] == ["a", "b", ""]


def test_parse_batch_options():
    out = parse_batch({"gen": ["r</think>a"]}, field="gen", prefixed=False)
    assert out["status"] == ["missing"]


def test_parse_batch_with_datasets_map():
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (optional)")
    ds = datasets.Dataset.from_dict(copy.deepcopy(BATCH)).map(parse_batch, batched=True, batch_size=2)
    assert ds.column_names == ["id", "response", *OWNED]
    assert ds["status"] == ["valid", "missing", "truncated"]
    assert ds["reasoning"] == ["r", None, "c"]


# ------------------------------------------------------------------------------ the command line


def tp(*args, input: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", *args, "-q"],
        input=input,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_cli_field_and_prefixed_flags():
    lines = "\n".join(json.dumps(r) for r in [chat("", "r", "length"), chat("r</think>a")]) + "\n"
    assert [r["status"] for r in tp("parse", "--field", CHOICE, input=lines)] == ["truncated", "valid"]
    assert [r["status"] for r in tp("parse", "--field", CHOICE, "--no-prefixed", input=lines)] == [
        "truncated",
        "missing",
    ]
    assert [r["status"] for r in tp("parse", "--field", CHOICE, "--prefixed", "--format", "bracket", input=lines)] == [
        "truncated",
        "truncated",
    ]


# ------------------------------------------------------------------------------ tokenizers (../shared)

PREFIXED = {
    "deepseek-r1-distill-qwen": True,
    "qwq-32b": True,
    "qwen3": False,
    "llama-3.1": False,
    "gemma-3": False,
    "gpt-oss": False,
    "magistral-small-2509": False,
}


@lru_cache(maxsize=None)
def parser_for(folder: str) -> Parser:
    return Parser.create(ParseOptions(tokenizer=folder))


@pytest.mark.parametrize("name, prefixed", PREFIXED.items(), ids=list(PREFIXED))
def test_tokenizer_prefixed_detection(tokenizers_dir, name, prefixed):
    parser = parser_for(str(tokenizers_dir / name))
    assert parser.options.prefixed is prefixed
    # What it changes: an output without any tag is an unfinished trace under a prefixed template.
    [out] = parser([{"response": "Okay, so 2 + 2"}])
    assert out["status"] == ("truncated" if prefixed else "missing")


def test_explicit_prefixed_beats_tokenizer(tokenizers_dir):
    parser = Parser.create(ParseOptions(tokenizer=str(tokenizers_dir / "qwen3"), prefixed=True))
    assert parser.options.prefixed is True


TEXTS = [
    {
        "response": "<think>\nOkay, 2 + 2 = 4, so the answer is 4. Überprüfung: ✓ 二加二\n</think>\n\nThe answer is **4**."
    },
    {"response": "no reasoning here, just 4"},
    {"response": ["<think>a b c</think>d", "<think>cut", "</think>"]},
]


@pytest.mark.parametrize("name", ["deepseek-r1-distill-qwen", "qwen3", "gpt-oss", "magistral-small-2509", "gemma-3"])
def test_token_counts_match_the_tokenizer(tokenizers_dir, name):
    parser = parser_for(str(tokenizers_dir / name))

    def encode(text):
        return None if text is None else len(parser.tokenizer.encode(text, add_special_tokens=False))

    for record in parser(copy.deepcopy(TEXTS)):
        for key, source in (("reasoning_tokens", "reasoning"), ("answer_tokens", "answer")):
            value = record[source]
            want = [encode(v) for v in value] if isinstance(value, list) else encode(value)
            assert record[key] == want, (name, key, value)
    assert parser(copy.deepcopy(TEXTS[:1]))[0]["reasoning_tokens"] > 10  # counted, not zero


# ------------------------------------------------------------------------------ the committed samples

# What each constructed kind must parse as (samples/build.py builds them; samples/README.md lists them).
CONSTRUCTED = {
    "bracket-valid": "valid",
    "bracket-truncated": "truncated",
    "harmony-valid": "valid",
    "harmony-truncated": "truncated",
    "harmony-stripped": "valid",
    "seed-valid": "valid",
    "prefixed-prompt": "valid",
    "prefixed-inferred": "valid",
    "prefixed-truncated": "truncated",
    "prefixed-empty": "empty",
    "empty-think": "empty",
    "uppercase": "valid",
    "fenced-tag": "missing",
    "inline-tag": "missing",
    "split-stop": "valid",
    "split-length": "truncated",
    "split-empty": "empty",
}
PROVENANCE = ("source_repo", "source_path", "source_commit")


def load(name: str) -> list[dict]:
    with open(SAMPLES / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def expected_status(text: str, thinking=None) -> str:
    """From the corpus README's substring classes, independent of the parser."""
    if isinstance(thinking, str) and thinking:
        return "valid"
    if "<think>" in text:
        return "valid" if "</think>" in text else "truncated"
    return "valid" if "</think>" in text else "missing"


def test_eval_outputs_sample():
    records = load("eval_outputs.jsonl")
    assert 250 <= len(records) <= 350 and (SAMPLES / "eval_outputs.jsonl").stat().st_size < 1_000_000
    assert len({r["id"] for r in records}) == len(records)
    out = Parser()(copy.deepcopy(records))
    statuses = set()
    for record, result in zip(records, out):
        assert isinstance(record["response"], str) and record["model"] and all(record[k] for k in PROVENANCE)
        if record.get("constructed"):
            want = CONSTRUCTED[record["construction"]]
        else:
            want = expected_status(record["response"], record.get("thinking"))
        assert result["status"] == want, record["id"]
        statuses.add(want)
    assert statuses == {"valid", "empty", "truncated", "missing"}
    assert set(CONSTRUCTED) == {r["construction"] for r in records if r.get("constructed")}
    assert sum(bool(r.get("constructed")) for r in records) < len(records) // 5  # a minority
    assert sum("gold" in r for r in records) > len(records) // 2


def test_eval_outputs_keep_the_original_text_field():
    for r in load("eval_outputs.jsonl"):
        if not r.get("constructed"):
            original = {
                "reasoning_gym_eval_local_rl.jsonl": "full_model_response",
                "reasoning_gym_eval_zeroshot_api.jsonl": "full_model_response",
                "misguided_attention_outputs.jsonl": "output",
                "reasoning_gym_eval_math_harness.jsonl": "code",
            }[r["corpus_file"]]
            assert r["response"] == (r[original][0] if original == "code" else r[original]), r["id"]


def test_samples_n3_for_pass_at_k():
    records = load("eval_samples_n3.jsonl")
    assert len(records) == 50
    out = Parser()(copy.deepcopy(records))
    for record, result in zip(records, out):
        assert len(record["response"]) == len(record["score"]) == 3 and record["gold"]
        assert result["status"] == [expected_status(t) for t in record["response"]]
    assert any(len(set(r["status"])) > 1 for r in out)  # some questions mix statuses


def test_run_pair_shares_ids():
    run_a, run_b = load("run_a.jsonl"), load("run_b.jsonl")
    assert len(run_a) == len(run_b) == 100
    assert [r["id"] for r in run_a] == [r["id"] for r in run_b]
    assert len({r["id"] for r in run_a}) == 100
    assert all(a["question"] == b["question"] and a["gold"] == b["gold"] for a, b in zip(run_a, run_b))
    assert {r["model"] for r in run_a} != {r["model"] for r in run_b}
    for run in (run_a, run_b):
        assert [r["status"] for r in Parser()(copy.deepcopy(run))] == [expected_status(r["response"]) for r in run]


def test_a_named_reasoning_field_alone_is_a_record_with_an_empty_answer():
    """--reasoning-field names where reasoning is for every rule, also for a record that holds nothing else."""
    assert parsed({"thoughts": "r"}, reasoning_field="thoughts") == ("valid", "r", "")
    with pytest.raises(RecordError, match="^no text field"):
        parsed({"thoughts": "r"})


def test_samples_reparse_idempotently():
    for name in ("eval_outputs.jsonl", "eval_samples_n3.jsonl"):
        once = Parser()(load(name))
        assert Parser()(copy.deepcopy(once)) == once, name


def test_cli_two_reasoning_fields():
    line = json.dumps({"response": "4", "reasoning_content": "a", "thinking": "b"}) + "\n"
    proc = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "parse", "-q"],
        input=line,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "<stdin>:1: two different reasoning fields, 'reasoning_content' and 'thinking'" in proc.stderr
    assert "Traceback" not in proc.stderr
    [out] = tp("parse", "--reasoning-field", "thinking", input=line)
    assert (out["status"], out["reasoning"], out["reasoning_format"], out["reasoning_tag"]) == (
        "valid",
        "b",
        "field",
        "thinking",
    )
