"""``tp head`` and ``tp sample``: filters (--status, --wrong, --where), readable records, seeded sampling."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from thinkpack_cli.browse import Where
from thinkpack_cli.cli import app
from thinkpack_cli.errors import UsageError


def tp(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


RECORDS = [
    {"model": "a", "step": 100, "response": "<think>two plus two</think>\\boxed{4}", "gold": "4"},
    {"model": "b", "step": 200, "response": "<think>hmm, long", "gold": "5"},
    {"model": "a", "step": 300, "response": "<think>guess</think>\\boxed{7}", "gold": "6"},
    {"model": "b", "step": 400, "response": "9", "gold": "9"},
    {"model": "a", "step": 500, "response": ["<think>x</think>\\boxed{1}", "<think>y</think>\\boxed{2}"], "gold": "2"},
]


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "runs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return p


def headers(output):
    return [line for line in output.splitlines() if line.startswith("── ")]


def test_head_shows_reasoning_answer_gold_and_verdict(path):
    result = tp("head", path, "-n", "1", "--grader", "exact")
    assert result.exit_code == 0, result.output
    assert headers(result.stdout) == [f"── {path}:1 · valid · ✓ correct"]
    assert "reasoning (12 chars):\ntwo plus two" in result.stdout
    assert "answer: \\boxed{4}" in result.stdout and "gold: 4  extracted: 4" in result.stdout


def test_status_filter(path):
    result = tp("head", path, "--status", "truncated", "--grader", "none")
    assert headers(result.stdout) == [f"── {path}:2 · truncated"]


def test_wrong_filter_grades_each_sample_of_a_list(path):
    result = tp("head", path, "--wrong", "--grader", "exact")
    assert headers(result.stdout) == [
        f"── {path}:2 · truncated · ✗ wrong (no_answer)",
        f"── {path}:3 · valid · ✗ wrong",
        f"── {path}:5 · sample 0 · valid · ✗ wrong",
    ]


def test_where_filter(path):
    result = tp("head", path, "--where", 'model == "a" and step >= 300', "--grader", "none")
    assert headers(result.stdout) == [
        f"── {path}:3 · valid",
        f"── {path}:5 · sample 0 · valid",
        f"── {path}:5 · sample 1 · valid",
    ]


@pytest.mark.parametrize(
    "text,record,holds",
    [
        ('model == "x"', {"model": "x"}, True),
        ('meta.model != "x"', {"meta": {"model": "y"}}, True),
        ("step > 10 or not done", {"step": 3, "done": False}, True),
        ('benchmark in ["aime24", "aime25"]', {"benchmark": "aime25"}, True),
        ("outputs[0].tokens < 100", {"outputs": [{"tokens": 150}]}, False),
        ("missing_field > 1", {}, False),  # None compared with a number does not hold, and is no error
        ("flag == true", {"flag": True}, True),
    ],
)
def test_where_language(text, record, holds):
    assert Where(text)(record) is holds


@pytest.mark.parametrize("text", ["__import__('os').system('x')", "a + b == 2", "f(x)", "x if y else z", "lambda: 1"])
def test_where_evaluates_nothing_but_fields_and_comparisons(text):
    with pytest.raises(UsageError):
        Where(text)


def test_sample_is_seeded_and_uniform(path):
    first = tp("sample", path, "-n", "2", "--seed", "7", "--grader", "none")
    again = tp("sample", path, "-n", "2", "--seed", "7", "--grader", "none")
    assert first.exit_code == 0, first.output
    assert headers(first.stdout) == headers(again.stdout) and len(headers(first.stdout)) == 2
    # Over many seeds every one of the 6 samples is drawn, each about a third of the time (2 of 6).
    counts = {}
    for seed in range(60):
        for line in headers(tp("sample", path, "-n", "2", "--seed", seed, "--grader", "none").stdout):
            counts[line] = counts.get(line, 0) + 1
    assert len(counts) == 6 and all(8 <= c <= 34 for c in counts.values()), counts


def test_json_prints_matching_records_once(path):
    result = tp("head", path, "--where", "step == 500", "--json", "--grader", "none")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1 and records[0]["step"] == 500 and records[0]["status"] == ["valid", "valid"]


def test_off_a_terminal_nothing_is_styled(path):
    result = tp("head", path, "-n", "1", "--grader", "none")
    assert "\x1b[" not in result.stdout
