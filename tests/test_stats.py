"""`tp stats`: metrics, pass@k, groups, run-vs-run deltas, output formats and CI gates."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from thinkpack_cli.cli import app
from thinkpack_cli.stats import pass_at_k


def jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def stats(*args, input=None):
    return CliRunner().invoke(app, ["stats", *args], input=input)


# Ten samples: 6 valid, 1 empty, 2 truncated, 1 missing; gold answers for all.
EVAL = [
    {"id": "a", "model": "m1", "response": "<think>2+2</think>The answer is 4.", "gold": "4"},
    {"id": "b", "model": "m1", "response": "<think>think</think>\\boxed{5}", "gold": "5"},
    {"id": "c", "model": "m1", "response": "<think>hmm</think>\\boxed{7}", "gold": "6"},
    {"id": "d", "model": "m1", "response": "<think>\n\n</think>\n\n9", "gold": "9"},
    {"id": "e", "model": "m1", "response": "<think>never closed 10", "gold": "10"},
    {"id": "f", "model": "m2", "response": "<think>x</think>11", "gold": "11"},
    {"id": "g", "model": "m2", "response": "<think>y</think>12", "gold": "12"},
    {"id": "h", "model": "m2", "response": "<think>z</think>wrong", "gold": "13"},
    {"id": "i", "model": "m2", "response": "<think>cut", "gold": "14"},
    {"id": "j", "model": "m2", "response": "15", "gold": "15"},
]


def test_rates_sum_to_one_and_match_counts(tmp_path):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--json", "--grader", "exact")
    assert result.exit_code == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["total"] == 10
    assert (m["valid_rate"], m["empty_rate"], m["truncated_rate"], m["missing_rate"]) == (0.6, 0.1, 0.2, 0.1)
    assert math.isclose(sum(m[f"{s}_rate"] for s in ("valid", "empty", "truncated", "missing")), 1.0)
    assert m["answer_rate"] == 0.8  # truncated samples have no answer
    assert m["graded"] == 10
    # correct: a (4), b (5), d (9), f, g, j = 6 of 10; truncated e and i are wrong whatever they say
    assert m["accuracy"] == pytest.approx(0.6)
    # among the 6 valid: a, b, f, g correct
    assert m["rpass@1"] == pytest.approx(4 / 6)
    assert m["reasoning_chars_max"] == len("never closed 10")
    assert m["answer_chars_max"] == len("The answer is 4.")


def test_parsed_and_raw_input_give_the_same_numbers(tmp_path):
    raw = jsonl(tmp_path / "raw.jsonl", EVAL)
    parsed = CliRunner().invoke(app, ["parse", raw, "-q"]).stdout
    from_raw = json.loads(stats(raw, "--json", "--grader", "exact").stdout)
    from_parsed = json.loads(stats("-", "--json", "--grader", "exact", input=parsed).stdout)
    assert from_raw == from_parsed


def test_parsed_records_are_trusted_not_reparsed(tmp_path):
    """A file parsed with --prefixed keeps its statuses; re-parsing without the flag would differ."""
    raw = jsonl(tmp_path / "raw.jsonl", [{"response": "reasoning with no close"}])
    parsed = CliRunner().invoke(app, ["parse", raw, "--prefixed", "-q"]).stdout
    m = json.loads(stats("-", "--json", input=parsed).stdout)
    assert m["truncated_rate"] == 1.0


def test_zero_records_give_null_rates(tmp_path):
    result = stats(jsonl(tmp_path / "empty.jsonl", []), "--json")
    assert result.exit_code == 0
    m = json.loads(result.stdout)
    assert m["total"] == 0
    assert m["valid_rate"] is None and m["accuracy"] is None and m["reasoning_chars_mean"] is None


def test_no_gold_means_no_accuracy(tmp_path):
    records = [{k: v for k, v in r.items() if k != "gold"} for r in EVAL]
    m = json.loads(stats(jsonl(tmp_path / "e.jsonl", records), "--json").stdout)
    assert m["graded"] == 0 and m["accuracy"] is None and m["rpass@1"] is None


def test_grader_none_skips_grading(tmp_path):
    m = json.loads(stats(jsonl(tmp_path / "e.jsonl", EVAL), "--json", "--grader", "none").stdout)
    assert m["graded"] == 0 and m["accuracy"] is None
    assert m["valid_rate"] == 0.6


def test_group_by_gives_a_list_of_objects(tmp_path):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--by", "model", "--json", "--grader", "exact")
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["m1", "m2"]
    assert [r["total"] for r in rows] == [5, 5]
    assert rows[0]["accuracy"] == pytest.approx(3 / 5)
    assert rows[1]["accuracy"] == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (10, 0, 1, 0.0),
        (10, 10, 5, 1.0),
        (10, 3, 1, 0.3),
        (4, 1, 2, 0.5),
        (5, 2, 2, 1 - math.comb(3, 2) / math.comb(5, 2)),
        (16, 1, 8, 0.5),
    ],
    ids=["none-correct", "all-correct", "pass1-is-mean", "n4c1k2", "n5c2k2", "n16c1k8"],
)
def test_pass_at_k_is_the_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_over_list_fields(tmp_path):
    records = [
        {"response": ["1", "2", "3", "4"], "gold": "4"},  # 1 of 4
        {"response": ["4", "4", "x", "y"], "gold": "4"},  # 2 of 4
        {"response": ["z", "z", "z", "z"], "gold": "4"},  # 0 of 4
    ]
    m = json.loads(stats(jsonl(tmp_path / "n.jsonl", records), "--k", "1,2,8", "--json", "--grader", "exact").stdout)
    assert m["total"] == 12
    assert m["accuracy"] == pytest.approx((0.25 + 0.5 + 0) / 3)
    assert m["pass@1"] == pytest.approx(m["accuracy"])
    assert m["pass@2"] == pytest.approx((pass_at_k(4, 1, 2) + pass_at_k(4, 2, 2) + 0) / 3)
    assert m["pass@8"] is None  # no prompt has 8 samples


def test_pass_at_k_over_records_sharing_an_id(tmp_path):
    records = [{"qid": q, "response": a, "gold": "ok"} for q, a in [(1, "ok"), (1, "no"), (2, "no"), (2, "no")]]
    m = json.loads(
        stats(jsonl(tmp_path / "s.jsonl", records), "--id", "qid", "--k", "2", "--json", "--grader", "exact").stdout
    )
    assert m["pass@2"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.25)


def test_math_grader_accepts_equivalent_forms(tmp_path):
    records = [
        {"response": "<think>r</think>So \\boxed{\\frac{1}{2}}", "gold": "0.5"},
        {"response": "<think>r</think>The answer is 2,280.", "gold": "2280"},
        {"response": "<think>r</think>\\boxed{3}", "gold": "4"},
    ]
    m = json.loads(stats(jsonl(tmp_path / "m.jsonl", records), "--json").stdout)
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_several_inputs_give_columns_and_deltas(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", EVAL)
    better = [dict(r, response=f"<think>ok</think>{r['gold']}") for r in EVAL]
    b = jsonl(tmp_path / "b.jsonl", better)
    rows = json.loads(stats(a, b, "--json", "--grader", "exact").stdout)
    assert [r["input"] for r in rows] == [a, b]
    assert "delta" not in rows[0]
    assert rows[1]["accuracy"] == 1.0
    assert rows[1]["delta"]["accuracy"] == pytest.approx(0.4)
    assert rows[1]["delta"]["valid_rate"] == pytest.approx(0.4)


def test_markdown_and_csv(tmp_path):
    path = jsonl(tmp_path / "e.jsonl", EVAL)
    md = stats(path, "--markdown", "--grader", "exact").stdout
    # A block of its own for $GITHUB_STEP_SUMMARY: a heading naming the input, the table, a blank line.
    assert md.startswith(f"### tp stats: `{path}`\n\n| metric | value |\n| --- | ---: |\n") and md.endswith("|\n\n")
    assert "| valid_rate | 60.0% |" in md
    table = list(csv.DictReader(io.StringIO(stats(path, "--csv", "--by", "model", "--grader", "exact").stdout)))
    assert [row["model"] for row in table] == ["m1", "m2"]
    assert float(table[0]["valid_rate"]) == pytest.approx(0.6)


def test_table_is_the_default(tmp_path):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--grader", "exact")
    assert result.exit_code == 0
    assert "valid_rate" in result.stdout and "60.0%" in result.stdout
    assert "10 records read, 10 counted, 0 skipped" in result.stderr


@pytest.mark.parametrize(
    "gate, code",
    [
        ("valid_rate < 0.5", 0),
        ("valid_rate < 0.95", 1),
        ("truncated_rate > 0.1", 1),
        ("accuracy >= 0.6", 1),
        ("total == 10", 1),
        ("missing_rate <= 0.05", 0),
    ],
    ids=["met", "valid-missed", "truncated-missed", "accuracy-missed", "eq", "le-met"],
)
def test_gates(tmp_path, gate, code):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--json", "--grader", "exact", "--fail-if", gate)
    assert result.exit_code == code
    if code:
        metric = gate.split()[0]
        assert f"tp: gate missed: {gate}: {metric} = " in result.stderr
        assert result.stdout  # the report is still printed


def test_gate_per_group_names_the_group(tmp_path):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--by", "model", "--fail-if", "missing_rate > 0.1", "--json")
    assert result.exit_code == 1
    assert "missing_rate > 0.1 [model=m2]: missing_rate = 0.2, threshold 0.1" in result.stderr
    assert "model=m1" not in result.stderr


def test_delta_gate(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", EVAL)
    worse = jsonl(tmp_path / "b.jsonl", [dict(r, response="<think>x") for r in EVAL])
    result = stats(a, worse, "--grader", "exact", "--fail-if", "delta.accuracy < -0.02", "--json")
    assert result.exit_code == 1
    assert f"delta.accuracy < -0.02 [input={worse}]: delta.accuracy = -0.6" in result.stderr


def test_gate_on_unmeasured_metric_is_missed(tmp_path):
    records = [{"response": "x"}]
    result = stats(jsonl(tmp_path / "e.jsonl", records), "--fail-if", "accuracy < 0.5", "--json")
    assert result.exit_code == 1
    assert "accuracy = null (nothing to measure)" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fail-if", "valid < 0.9"], "unknown metric 'valid'"),
        (["--fail-if", "valid_rate is low"], "cannot read gate"),
        (["--k", "a,b"], "--k takes comma-separated integers"),
        (["--json", "--csv"], "choose one of --json, --markdown, --csv"),
        (["--grader", "fuzzy"], "Invalid value for '--grader'"),
    ],
    ids=["unknown-metric", "bad-gate", "bad-k", "two-formats", "bad-grader"],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_pipe_parse_into_stats(tmp_path):
    """The real commands in a real shell pipe."""
    path = jsonl(tmp_path / "e.jsonl", EVAL)
    tp = [sys.executable, "-m", "thinkpack_cli"]
    parse = subprocess.Popen([*tp, "parse", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    result = subprocess.run(
        [*tp, "stats", "-", "--json", "--grader", "exact", "--fail-if", "valid_rate < 0.9"],
        stdin=parse.stdout,
        capture_output=True,
        text=True,
    )
    parse.stdout.close()
    assert parse.wait() == 0
    assert result.returncode == 1
    assert json.loads(result.stdout)["valid_rate"] == 0.6
    assert "tp: gate missed: valid_rate < 0.9: valid_rate = 0.6, threshold 0.9" in result.stderr


# ---------------------------------------------------------------------------- reasoning a server split off


def test_reasoning_field_chooses_between_two_that_differ(tmp_path):
    """tp stats finds reasoning by tp parse's rule: two fields that differ are an error until
    --reasoning-field names one, and the metrics are then that field's."""
    records = [
        {"response": "4", "reasoning_content": "short", "thinking": "a longer chain", "gold": "4"},
        {"response": "5", "reasoning_content": "same", "thinking": "same", "gold": "4"},
    ]
    path = jsonl(tmp_path / "two.jsonl", records)
    result = stats(path, "--json", "--grader", "exact")
    assert result.exit_code == 2
    assert "1: two different reasoning fields, 'reasoning_content' and 'thinking'" in result.stderr
    assert "--reasoning-field" in result.stderr
    m = json.loads(stats(path, "--json", "--grader", "exact", "--reasoning-field", "thinking").stdout)
    assert (m["valid_rate"], m["reasoning_chars_max"], m["accuracy"]) == (1.0, len("a longer chain"), 0.5)
    m = json.loads(stats(path, "--json", "--grader", "exact", "--reasoning-field", "reasoning_content").stdout)
    assert m["reasoning_chars_max"] == len("short")


def test_reasoning_field_outside_the_default_names(tmp_path):
    """A field no server default names is reasoning once named: without it the outputs have no block."""
    records = [{"response": "4", "thoughts": "2+2", "gold": "4"}, {"thoughts": "cut off here", "gold": "4"}]
    path = jsonl(tmp_path / "thoughts.jsonl", records)
    m = json.loads(stats(path, "--json", "--grader", "exact", "--reasoning-field", "thoughts").stdout)
    assert (m["total"], m["valid_rate"], m["answer_rate"]) == (2, 1.0, 0.5)
    assert (m["reasoning_chars_max"], m["accuracy"]) == (len("cut off here"), 0.5)
    result = stats(path, "--json", "--grader", "exact", "--on-error", "skip")
    m = json.loads(result.stdout)
    assert (m["total"], m["missing_rate"]) == (1, 1.0)


# ---------------------------------------------------------------------------- issue 8, class 1: prompts by line


def test_prompts_are_lines_of_the_input_across_blocks_and_workers(tmp_path):
    """Without --id each record is one prompt: records at the same offset of different 1 MB blocks
    are different prompts. 1,500 records of ~4 KB span six blocks."""
    from thinkpack_cli import streams

    records = [
        {"response": f"<think>{'r' * 4000}</think>{'4' if i % 3 == 0 else '5'}", "gold": "4"} for i in range(1500)
    ]
    path = jsonl(tmp_path / "one_sample_each.jsonl", records)
    assert (tmp_path / "one_sample_each.jsonl").stat().st_size > 5 * streams.BLOCK_BYTES
    for workers in ("1", "2", "4"):
        m = json.loads(stats(path, "--json", "--grader", "exact", "--k", "1,2", "--workers", workers).stdout)
        assert m["accuracy"] == pytest.approx(500 / 1500)
        assert m["pass@1"] == pytest.approx(500 / 1500)
        assert m["pass@2"] is None  # no prompt has two samples


def test_a_record_without_the_id_is_its_own_prompt(tmp_path):
    records = [
        {"qid": 1, "response": "ok", "gold": "ok"},
        {"response": "no", "gold": "ok"},
        {"response": "ok", "gold": "ok"},
    ]
    m = json.loads(
        stats(jsonl(tmp_path / "i.jsonl", records), "--json", "--grader", "exact", "--id", "qid", "--k", "2").stdout
    )
    assert m["accuracy"] == pytest.approx(2 / 3) and m["pass@2"] is None


def test_ids_join_samples_across_blocks(tmp_path):
    records = [
        {"qid": i % 700, "response": f"<think>{'r' * 4000}</think>{'ok' if i < 700 else 'no'}", "gold": "ok"}
        for i in range(1400)
    ]
    path = jsonl(tmp_path / "two_samples_each.jsonl", records)
    m = json.loads(stats(path, "--json", "--grader", "exact", "--id", "qid", "--k", "2", "--workers", "2").stdout)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["pass@2"] == pytest.approx(1.0)
    assert m["maj@2"] == pytest.approx(0.0)  # one right, one wrong: a tie is no majority


# ---------------------------------------------------------------------------- issue 8, class 5: missing or quiet inputs


def test_gold_takes_a_path(tmp_path):
    records = [{"response": "4", "meta": {"answer": "4"}}, {"response": "5", "meta": {"answer": "6"}}]
    m = json.loads(stats(jsonl(tmp_path / "g.jsonl", records), "--gold", "meta.answer", "--json").stdout)
    assert m["graded"] == 2 and m["accuracy"] == pytest.approx(0.5)


@pytest.mark.parametrize("option", ["--gold", "--by", "--id"])
def test_a_field_no_record_has_is_a_usage_error(tmp_path, option):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), option, "golden", "--json")
    assert result.exit_code == 2
    assert f"{option} golden: no record has this field" in result.stderr
    assert "Traceback" not in result.stderr


def test_gsm8k_solution_and_list_golds(tmp_path):
    records = [
        {
            "response": "<think>48/2=24, 48+24=72</think>She sold 72 clips.",
            "gold": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72",
        },
        {"response": "<think>r</think>\\boxed{7}", "gold": ["6", "7"]},
        {"response": "<think>r</think>\\boxed{8}", "gold": ["6", "7"]},
    ]
    m = json.loads(stats(jsonl(tmp_path / "g.jsonl", records), "--json").stdout)
    assert m["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_a_null_output_is_a_wrong_sample(tmp_path, on_error):
    records = [
        {"response": None, "gold": "1"},
        {"response": "<think>r</think>1", "gold": "1"},
        {"response": ["<think>r</think>1", None], "gold": "1"},
    ]
    result = stats(jsonl(tmp_path / "n.jsonl", records), "--json", "--on-error", on_error)
    assert result.exit_code == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["total"] == 4 and m["graded"] == 4
    assert m["failed_rate"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx((0 + 1 + 0.5) / 3)
    assert math.isclose(sum(m[f"{s}_rate"] for s in ("valid", "empty", "truncated", "missing", "failed")), 1.0)


def test_a_delta_gate_needs_two_inputs(tmp_path):
    result = stats(jsonl(tmp_path / "e.jsonl", EVAL), "--fail-if", "delta.accuracy < -0.02", "--json")
    assert result.exit_code == 2
    assert "name two or more inputs" in result.stderr


def test_token_counts_the_records_carry_are_kept(tmp_path):
    records = [
        {
            "reasoning": "r",
            "answer": "a",
            "status": "valid",
            "reasoning_format": "think",
            "reasoning_tag": "think",
            "reasoning_tokens": n,
            "answer_tokens": 1,
        }
        for n in (10, 20, 30)
    ]
    m = json.loads(stats(jsonl(tmp_path / "t.jsonl", records), "--json").stdout)
    assert m["reasoning_tokens_max"] == 30 and m["answer_tokens_p50"] == 1


def test_parse_with_a_tokenizer_piped_into_stats_keeps_token_metrics(tmp_path, tokenizers_dir):
    raw = jsonl(tmp_path / "raw.jsonl", EVAL)
    tokenizer = str(tokenizers_dir / "deepseek-r1-distill-qwen")
    parsed = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "parse", raw, "-t", tokenizer, "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "stats", "-", "--json", "--grader", "none"],
        input=parsed,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["reasoning_tokens_max"] > 0
    assert "10 records read" in result.stderr  # a cut pipe shows in the count (issue 10)


# ---------------------------------------------------------------------------- per-sample log, maj@k


def test_samples_file_logs_every_sample(tmp_path):
    records = [
        {"qid": 1, "response": "<think>r</think>The answer is $\\dfrac{1}{3}$.", "gold": "3"},
        {"qid": 2, "response": "<think>cut", "gold": "1"},
        {"qid": 3, "response": "<think>r</think>5"},
        {
            "qid": 4,
            "response": [
                "<think>r</think>\\boxed{2}",
                "<think>r</think>no idea at all, sorry, the problem is too hard for me",
            ],
            "gold": "2",
        },
    ]
    log = tmp_path / "samples.jsonl"
    result = stats(jsonl(tmp_path / "s.jsonl", records), "--id", "qid", "--samples", str(log), "--json")
    assert result.exit_code == 0, result.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["line"], e.get("sample"), e["id"]) for e in entries] == [
        (1, None, 1),
        (2, None, 2),
        (3, None, 3),
        (4, 0, 4),
        (4, 1, 4),
    ]
    first, cut, no_gold, boxed, prose = entries
    assert (first["pred"], first["correct"], first["grade_status"]) == ("\\frac{1}{3}", False, "graded")
    assert (cut["status"], cut["grade_status"], cut["correct"]) == ("truncated", "no_answer", False)
    assert no_gold["grade_status"] == "no_gold"
    assert (boxed["pred"], boxed["correct"]) == ("2", True)
    assert prose["grade_status"] == "unparsable"
    assert all(e["input"].endswith("s.jsonl") for e in entries)


def test_maj_at_k(tmp_path):
    responses = {1: ["4", "4", "5"], 2: ["5", "5", "4"], 3: ["4", "5", "6"], 4: ["$4$", "4.0", "x"]}
    records = [{"qid": q, "response": r, "gold": "4"} for q, rs in responses.items() for r in rs]
    m = json.loads(stats(jsonl(tmp_path / "m.jsonl", records), "--id", "qid", "--k", "1,3", "--json").stdout)
    # k=3: prompt 1 (2 of 3 right), 4 (equivalent forms agree); prompt 2 (5 wins), 3 (a three-way tie) are not
    assert m["maj@3"] == pytest.approx(0.5)
    assert m["maj@1"] == pytest.approx(3 / 4)  # the first sample alone: 4, 5, 4, $4$


# ---------------------------------------------------------------------------- issue 10: groups and outputs


def test_one_true_and_one_point_zero_are_three_groups(tmp_path):
    records = [{"v": v, "response": "x"} for v in (1, True, 1.0, 1)]
    rows = json.loads(stats(jsonl(tmp_path / "v.jsonl", records), "--by", "v", "--json").stdout)
    assert sorted((type(r["v"]).__name__, r["total"]) for r in rows) == [("bool", 1), ("float", 1), ("int", 2)]


def test_a_newline_in_a_group_value_keeps_the_markdown_table(tmp_path):
    records = [{"model": "m\n| x |", "response": "x"}, {"model": "plain", "response": "x"}]
    md = stats(jsonl(tmp_path / "m.jsonl", records), "--by", "model", "--markdown").stdout
    lines = md.split("\n\n")[1].splitlines()  # the table, after the heading
    assert len(lines) == 4 and all(line.startswith("| ") and line.endswith(" |") for line in lines)
    assert all(line.count(" | ") == lines[0].count(" | ") for line in lines)


def test_csv_neutralises_formulas(tmp_path):
    records = [{"model": m, "response": "x"} for m in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "ok")]
    out = stats(jsonl(tmp_path / "c.jsonl", records), "--by", "model", "--csv").stdout
    cells = [row["model"] for row in csv.DictReader(io.StringIO(out))]
    assert all(not c or c == "ok" or c.startswith("'") for c in cells), cells
    assert '\'=HYPERLINK("http://x")' in cells
    numbers = [row["total"] for row in csv.DictReader(io.StringIO(out))]
    assert numbers == ["1"] * 5  # numbers stay numbers


def test_library_run_returns_the_report_the_command_prints(tmp_path):
    """stats.run() is tp stats as a call: the CLI only wires options to it and renders what it returns."""
    from thinkpack_cli.parse import ParseOptions
    from thinkpack_cli.stats import StatsOptions, run

    path = jsonl(tmp_path / "e.jsonl", EVAL)
    options = StatsOptions(parse=ParseOptions(), by=("model",), grader="exact", ks=(1,))
    report = run([path], options, workers=1)
    printed = json.loads(stats(path, "--json", "--grader", "exact", "--by", "model", "--k", "1").stdout)
    assert report.rows == printed
    assert [row["accuracy.ci_low"] < row["accuracy"] < row["accuracy.ci_high"] for row in report.rows] == [True, True]
    assert set(report.every) - set(report.names) >= {"accuracy.ci_low", "valid_rate.ci_high"}
    assert report.judged.timeouts == 0 and [c.summary.read for c in report.columns] == [10]


def test_tallies_stay_the_same_size_for_four_times_the_input(tmp_path):
    """Lengths are kept as histograms: what a tally holds is bounded by the distinct lengths, not the
    records (memory flat in the input size), and its percentiles are still the exact nearest ranks."""
    import pickle

    from thinkpack_cli import stats as library

    def records(n):
        return [{"response": f"<think>{'r' * (i % 40)}</think>{'a' * (i % 7 + 1)}"} for i in range(n)]

    sizes, rows = [], []
    for n in (2000, 8000):
        report = library.run([jsonl(tmp_path / f"in{n}.jsonl", records(n))], workers=1)
        sizes.append(len(pickle.dumps(report.columns[0].tallies)))
        rows.append(report.rows[0])
    assert sizes[1] < 1.1 * sizes[0]
    lengths = sorted(i % 40 for i in range(8000))
    assert rows[1]["reasoning_chars_p90"] == lengths[math.ceil(0.9 * 8000) - 1]
    assert rows[1]["reasoning_chars_mean"] == sum(lengths) / 8000 and rows[1]["answer_chars_max"] == 7
