"""The parser over the real corpus in ../shared/corpus (skipped where it is absent).

Counts are checked against the tag counts measured in corpus/README.md (plain substring
tests), and a few hand-read records per file are pinned by line number.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from thinkpack_cli.errors import RecordError
from thinkpack_cli.parse import ParseOptions, Parser

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
FIELDS = {  # the text field of each file, as corpus/README.md names it
    "reasoning_gym_eval_local_rl.jsonl": "full_model_response",
    "reasoning_gym_eval_math_harness.jsonl": "response",
    "reasoning_gym_eval_zeroshot_api.jsonl": "full_model_response",
    "misguided_attention_outputs.jsonl": "output",
}
THINK_TAG_FILES = ["reasoning_gym_eval_local_rl.jsonl", "reasoning_gym_eval_math_harness.jsonl"]


@lru_cache(maxsize=None)
def records(corpus: Path, name: str) -> tuple[dict, ...]:
    with open(corpus / name, encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f)


def parse(corpus: Path, name: str, **options) -> list:
    return Parser(ParseOptions(field=FIELDS[name], **options))(copy.deepcopy(list(records(corpus, name))))


def statuses(results) -> Counter:
    return Counter("error" if isinstance(r, RecordError) else r["status"] for r in results)


@lru_cache(maxsize=None)
def readme_counts(corpus: Path) -> dict[str, dict[str, int]]:
    """Per file: records and the 'tag counts on `field`' line of corpus/README.md (plus `thinking` counts)."""
    text = (corpus / "README.md").read_text(encoding="utf-8")
    out = {}
    for section in re.split(r"^### `", text, flags=re.M)[1:]:
        name = section.split("`", 1)[0]
        counts = {"records": int(re.search(r"^- records: (\d+)", section, re.M)[1])}
        field, pairs = re.search(r"^- tag counts on `([^`]+)`: (.*)$", section, re.M).groups()
        counts.update({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", pairs)}, field=field)
        counts["unbalanced"] = _unbalanced(corpus, name, field)
        thinking = re.search(r"`thinking`: present=(\d+), non-empty=(\d+)", section)
        if thinking:
            counts["thinking_nonempty"] = int(thinking[2])
        out[name] = counts
    return out


def _unbalanced(corpus: Path, name: str, field: str) -> int:
    """Texts with both tags but more opening than closing ones: they end inside a later (or nested) block."""
    texts = [r.get(field) for r in records(corpus, name)] if (corpus / name).exists() else []
    return sum(bool(t) and "</think>" in t and t.count("<think>") > t.count("</think>") for t in texts)


@pytest.mark.parametrize("name", FIELDS)
def test_readme_counts_hold_for_the_data(corpus_dir, name):
    """The README's figures are what the tests below rely on: recount them from the data."""
    want = readme_counts(corpus_dir)[name]
    assert want["field"] == FIELDS[name]
    texts = [r.get(FIELDS[name]) for r in records(corpus_dir, name)]
    found = Counter(records=len(texts), text_null=sum(t is None for t in texts))
    for t in texts:  # a null text counts as neither, and not as blank
        o, c = t is not None and "<think>" in t, t is not None and "</think>" in t
        found.update(
            has_open=o,
            has_close=c,
            both=o and c,
            open_only=o and not c,
            close_only=c and not o,
            neither=not (o or c),
            empty_think_block=t is not None and bool(re.search(r"<think>\s*</think>", t)),
            empty_or_whitespace_text=t is not None and not t.strip(),
        )
    assert {k: found[k] for k in found} == {k: want[k] for k in found}


@pytest.mark.parametrize("name", THINK_TAG_FILES)
def test_think_tag_files(corpus_dir, name):
    n = readme_counts(corpus_dir)[name]
    assert n["empty_think_block"] == 0  # so every closed block here has content
    # A text that opens more blocks than it closes ends inside one (an answer, then a new block cut off).
    u = n["unbalanced"]
    assert u == {"reasoning_gym_eval_local_rl.jsonl": 7, "reasoning_gym_eval_math_harness.jsonl": 0}[name]
    assert statuses(parse(corpus_dir, name)) == +Counter(
        valid=n["both"] + n["close_only"] - u, truncated=n["open_only"] + u, missing=n["neither"]
    )
    # --no-prefixed: a close without an open is content.
    assert statuses(parse(corpus_dir, name, prefixed=False)) == +Counter(
        valid=n["both"] - u, truncated=n["open_only"] + u, missing=n["neither"] + n["close_only"]
    )
    # --prefixed: every output starts inside a block, so one without any tag was never closed.
    assert statuses(parse(corpus_dir, name, prefixed=True)) == +Counter(
        valid=n["both"] + n["close_only"] - u, truncated=n["open_only"] + n["neither"] + u
    )


@pytest.mark.parametrize("name", THINK_TAG_FILES)
def test_one_scan_path_agrees_with_the_rule(corpus_dir, name):
    """The one-scan path that most records take gives, on every real text it takes, the general rule's split."""
    from thinkpack_cli.formats import FORMATS
    from thinkpack_cli.formats.base import TagFormat
    from thinkpack_cli.formats.think import split_plain

    texts = [r[FIELDS[name]] for r in records(corpus_dir, name) if isinstance(r.get(FIELDS[name]), str)]
    taken = [(t, fast) for t in texts if (fast := split_plain(t)) is not None]
    assert len(taken) > len(texts) / 2
    assert [fast for _, fast in taken] == [TagFormat.split(FORMATS["think"], t) for t, _ in taken]


def test_close_only_is_read_as_prefixed(corpus_dir):
    name = "reasoning_gym_eval_local_rl.jsonl"
    out = [r for r in parse(corpus_dir, name) if r["reasoning_tag"] == "</think>"]
    assert len(out) == readme_counts(corpus_dir)[name]["close_only"] == 1
    assert out[0]["status"] == "valid" and out[0]["reasoning"].startswith("think: To determine the day of the week")
    assert out[0]["answer"] == "answer: Saturday"


def test_zeroshot_api_has_no_reasoning_in_the_text(corpus_dir):
    name = "reasoning_gym_eval_zeroshot_api.jsonl"
    out = parse(corpus_dir, name)
    assert statuses(out) == Counter(missing=readme_counts(corpus_dir)[name]["records"])
    assert all(r["answer"] == r[FIELDS[name]].strip() and r["reasoning"] is None for r in out)
    assert sum(r["answer"] == "" for r in out) == readme_counts(corpus_dir)[name]["empty_or_whitespace_text"]


def test_misguided_split_reasoning_and_inline_think(corpus_dir):
    name = "misguided_attention_outputs.jsonl"
    n = readme_counts(corpus_dir)[name]
    out = parse(corpus_dir, name)
    assert statuses(out) == Counter(
        valid=n["thinking_nonempty"],
        truncated=n["open_only"],
        error=n["text_null"],
        missing=n["neither"] - n["text_null"] - n["thinking_nonempty"],
    )
    ok = [r for r in out if not isinstance(r, RecordError)]
    assert {(r["status"], r["reasoning_format"], r["reasoning_tag"]) for r in ok} == {
        ("valid", "field", "thinking"),
        ("truncated", "think", "<think>"),
        ("missing", None, None),
    }
    assert {str(e) for e in out if isinstance(e, RecordError)} == {"field 'output' is null, not a string"}


def test_marco_o1_thought_blocks(corpus_dir):
    out = Parser()(list(records(corpus_dir / "sft", "marco_o1_cot_demo.jsonl")))
    assert statuses(out) == Counter(valid=125)
    assert all(r["reasoning_tag"] == "<Thought>" for r in out)
    # Marco-o1 wraps its answer in <Output>: the answer is the wrapper's body.
    assert all(r["answer"] == re.search(r"<Output>\s*(.*?)\s*(?:</Output>|$)", r["response"], re.S)[1] for r in out)


# Hand-read records: (file, 1-based line, status, reasoning starts with, answer).
HAND_CHECKED = [
    ("reasoning_gym_eval_local_rl.jsonl", 1, "truncated", "To determine the pattern in the sequence", ""),
    ("reasoning_gym_eval_local_rl.jsonl", 6, "valid", "think: To determine the day of the week", "answer: Saturday"),
    ("reasoning_gym_eval_local_rl.jsonl", 10, "missing", None, ""),
    (
        "reasoning_gym_eval_local_rl.jsonl",
        55,
        "valid",
        "For the given examples, the rule appears",
        "8 6 9\n6 8 9\n6 9 9",
    ),  # the <answer> wrapper's body
    ("reasoning_gym_eval_local_rl.jsonl", 70, "valid", "Counting rectangles involves", "60"),
    # An answer, then a new block cut off: the answer follows the last block, which never closed.
    ("reasoning_gym_eval_local_rl.jsonl", 687, "truncated", "The string to be transformed is 'bcbbab'", ""),
    (
        "reasoning_gym_eval_math_harness.jsonl",
        1,
        "truncated",
        "To solve the problem, we need to find the least prime",
        "",
    ),
    (
        "reasoning_gym_eval_math_harness.jsonl",
        15,
        "valid",
        "To solve this problem, we need to determine the set",
        "\\boxed{55}",
    ),  # an unclosed wrapper: its body runs to the end
    ("reasoning_gym_eval_zeroshot_api.jsonl", 2, "missing", None, ""),
    ("reasoning_gym_eval_zeroshot_api.jsonl", 21, "missing", None, "<answer>husband</answer>"),
    ("misguided_attention_outputs.jsonl", 1, "valid", "**Analyzing crossing strategy**", ""),
    ("misguided_attention_outputs.jsonl", 4, "truncated", "Okay, so I have a 6-liter jug and a 12-liter jug", ""),
    (
        "misguided_attention_outputs.jsonl",
        17,
        "valid",
        "Okay, let's see. The problem says that 50 machines",
        ...,
    ),  # ...: the whole `output`, stripped
    ("misguided_attention_outputs.jsonl", 827, "missing", None, ""),
]


@pytest.mark.parametrize(
    "name, line, status, reasoning, answer",
    HAND_CHECKED,
    ids=[f"{n.removesuffix('.jsonl')}:{line}" for n, line, *_ in HAND_CHECKED],
)
def test_hand_checked(corpus_dir, name, line, status, reasoning, answer):
    record = copy.deepcopy(records(corpus_dir, name)[line - 1])
    [out] = Parser(ParseOptions(field=FIELDS[name]))([record])
    assert out["status"] == status
    if reasoning is None:
        assert out["reasoning"] is None
    else:
        assert out["reasoning"].startswith(reasoning)
    if answer is ...:  # the whole answer text, as the model returned it
        assert out["answer"] == out[FIELDS[name]].strip() and out["answer"].startswith("To determine how long")
    else:
        assert out["answer"] == answer


def test_null_output_names_the_line(corpus_dir):
    """The CLI over a real file: fail names file and line; skip counts the record and goes on."""
    path = corpus_dir / "misguided_attention_outputs.jsonl"
    cmd = [sys.executable, "-m", "thinkpack_cli", "parse", str(path), "--field", "output"]
    fail = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert fail.returncode == 2 and f"{path}:818: field 'output' is null, not a string" in fail.stderr
    skip = subprocess.run([*cmd, "--on-error", "skip", "-q"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert skip.returncode == 0
    n = readme_counts(corpus_dir)["misguided_attention_outputs.jsonl"]
    assert len(skip.stdout.splitlines()) == n["records"] - n["text_null"]


def test_samples_rebuild_identically(corpus_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SAMPLES / "build.py"), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("eval_outputs.jsonl", "eval_samples_n3.jsonl", "run_a.jsonl", "run_b.jsonl"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
