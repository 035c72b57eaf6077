"""Intervals for rates, accuracy and run deltas, against closed forms and exact computations; and the
gates that use them (``delta.accuracy.ci_high < 0``: a drop that is real)."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics

import pytest
from typer.testing import CliRunner

from thinkpack_cli import confidence
from thinkpack_cli.cli import app


def stats(*args):
    return CliRunner().invoke(app, ["stats", *map(str, args)])


def jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (Wilson).
NEWCOMBE = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]


@pytest.mark.parametrize("counts,expected", NEWCOMBE)
def test_wilson_matches_the_published_intervals(counts, expected):
    low, high = confidence.wilson(*counts)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_is_not_a_point_at_zero_or_all():
    assert confidence.wilson(10, 10)[0] < 0.75 and confidence.wilson(10, 10)[1] == 1.0
    assert confidence.wilson(0, 0) == (None, None)


def test_standard_error_is_the_sample_deviation_over_root_n():
    values = [0.0, 0.25, 1.0, 1.0, 0.5, 0.75, 0.0]
    assert confidence.standard_error(values) == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    assert confidence.standard_error([1.0]) is None


def test_bootstrap_quantiles_match_the_exact_bootstrap_distribution():
    # Six per-prompt scores: all 6**6 resamples are equally likely, so the bootstrap distribution of the
    # mean is known exactly; the Monte-Carlo interval's ends must sit at its 2.5% and 97.5% points.
    values = [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    means = sorted(sum(s) / 6 for s in itertools.product(values, repeat=6))
    low, high = confidence.bootstrap_mean(values)

    def cdf_below(x):
        return sum(m < x - 1e-12 for m in means) / len(means)

    def cdf_at(x):
        return sum(m <= x + 1e-12 for m in means) / len(means)

    tolerance = 3 * math.sqrt(0.025 * 0.975 / confidence.RESAMPLES)  # Monte-Carlo error of a 2.5% quantile
    assert cdf_below(low) <= 0.025 + tolerance and cdf_at(low) >= 0.025 - tolerance
    assert cdf_below(high) <= 0.975 + tolerance and cdf_at(high) >= 0.975 - tolerance
    assert confidence.bootstrap_mean(values) == (low, high)  # seeded: the same every time


def test_bootstrap_agrees_with_the_normal_interval_when_n_is_large():
    rng = random.Random(7)
    values = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(2000)]
    mean, se = statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))
    low, high = confidence.bootstrap_mean(values)
    assert low == pytest.approx(mean - confidence.Z95 * se, abs=0.004)
    assert high == pytest.approx(mean + confidence.Z95 * se, abs=0.004)


def test_paired_delta_interval_and_se_against_the_differences():
    rng = random.Random(3)
    base = {f"p{i}": (4, rng.randint(0, 4)) for i in range(1500)}
    # The candidate loses one correct sample on one prompt in 15: a small drop, but a consistent one.
    other = {p: (n, max(c - (i % 15 == 0), 0)) for i, (p, (n, c)) in enumerate(base.items())}
    diffs = [other[p][1] / 4 - base[p][1] / 4 for p in base]
    mean, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    paired = confidence.delta_interval(base, other, paired=True)
    assert paired["accuracy.paired"] == 1500
    assert paired["accuracy.se"] == pytest.approx(se)
    assert paired["accuracy.ci_low"] == pytest.approx(mean - confidence.Z95 * se, abs=0.002)
    assert paired["accuracy.ci_high"] == pytest.approx(mean + confidence.Z95 * se, abs=0.002)
    assert paired["accuracy.ci_high"] < 0
    # Unpaired, prompt difficulty does not cancel: the same drop is within the noise.
    unpaired = confidence.delta_interval(base, other, paired=False)
    assert unpaired["accuracy.ci_low"] < 0 < unpaired["accuracy.ci_high"]
    assert unpaired["accuracy.paired"] is None


def _run(ids, correct_ids, samples=1):
    return [
        {"id": i, "response": f"<think>t</think>\\boxed{{{1 if i in correct_ids else 0}}}", "gold": "1"}
        for i in ids
        for _ in range(samples)
    ]


def test_stats_rows_carry_intervals_and_gates_read_them(tmp_path):
    ids = [f"q{i}" for i in range(40)]
    base = jsonl(tmp_path / "base.jsonl", _run(ids, set(ids[:30])))
    # A real drop: 8 prompts that were right are now wrong, none the other way.
    worse = jsonl(tmp_path / "worse.jsonl", _run(ids, set(ids[:22])))
    # Noise: two prompts flip each way, and one more lost (-2.5 points).
    noisy = jsonl(tmp_path / "noisy.jsonl", _run(ids, set(ids[2:29]) | {ids[30], ids[31]}))

    result = stats(base, worse, "--id", "id", "--grader", "exact", "--json", "-q")
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert (first["accuracy.ci_low"], first["accuracy.ci_high"]) == pytest.approx(confidence.wilson(30, 40))
    assert (first["truncated_rate.ci_low"], first["truncated_rate.ci_high"]) == pytest.approx(confidence.wilson(0, 40))
    delta = second["delta"]
    assert delta["accuracy"] == pytest.approx(-0.2)
    assert delta["accuracy.paired"] == 40
    assert delta["accuracy.ci_high"] < 0

    gate = ("--fail-if", "delta.accuracy.ci_high < 0")
    assert stats(base, worse, "--id", "id", "--grader", "exact", "-q", *gate).exit_code == 1
    noise = stats(base, noisy, "--id", "id", "--grader", "exact", "-q", *gate)
    assert noise.exit_code == 0, noise.output
    # …where a point threshold fails the same noise.
    assert (
        stats(base, noisy, "--id", "id", "--grader", "exact", "-q", "--fail-if", "delta.accuracy < -0.02").exit_code
        == 1
    )


def test_several_samples_per_prompt_use_the_prompt_bootstrap(tmp_path):
    ids = [f"q{i}" for i in range(12)]
    records = [
        {"id": i, "response": f"\\boxed{{{int(k < j % 4)}}}", "gold": "1"} for j, i in enumerate(ids) for k in range(4)
    ]
    result = stats(jsonl(tmp_path / "r.jsonl", records), "--id", "id", "--grader", "exact", "--json", "-q")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    scores = [(j % 4) / 4 for j in range(12)]
    assert row["accuracy"] == pytest.approx(statistics.fmean(scores))
    assert row["accuracy.se"] == pytest.approx(statistics.stdev(scores) / math.sqrt(12))
    assert (row["accuracy.ci_low"], row["accuracy.ci_high"]) == pytest.approx(confidence.bootstrap_mean(scores))


def test_csv_carries_the_interval_columns(tmp_path):
    path = jsonl(tmp_path / "r.jsonl", _run(["a", "b", "c"], {"a"}))
    result = stats(path, "--grader", "exact", "--csv", "-q")
    header = result.stdout.splitlines()[0].split(",")
    assert "accuracy.ci_high" in header and "valid_rate.ci_low" in header


# Newcombe (1998), "Interval estimation for the difference between independent proportions", Table II, method 10.
NEWCOMBE_DIFFERENCES = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
]


@pytest.mark.parametrize("counts,expected", NEWCOMBE_DIFFERENCES)
def test_rate_change_interval_matches_newcombe(counts, expected):
    a, n, b, m = counts  # the paper's p1 - p2 is our other - base with base = (b, m), other = (a, n)
    low, high = confidence.newcombe(b, m, a, n)
    assert (round(low, 4), round(high, 4)) == expected


def test_gates_on_a_rate_change_interval(tmp_path):
    ids = [f"q{i}" for i in range(60)]
    base = jsonl(tmp_path / "base.jsonl", _run(ids, set(ids)))
    cut = [
        {"id": i, "response": "<think>never closed" if n < 12 else "<think>t</think>\\boxed{1}", "gold": "1"}
        for n, i in enumerate(ids)
    ]
    worse = jsonl(tmp_path / "worse.jsonl", cut)
    second = json.loads(stats(base, worse, "--grader", "exact", "--json", "-q").stdout)[1]
    assert (second["delta"]["truncated_rate.ci_low"], second["delta"]["truncated_rate.ci_high"]) == pytest.approx(
        confidence.newcombe(0, 60, 12, 60)
    )
    assert stats(base, worse, "--grader", "exact", "-q", "--fail-if", "delta.truncated_rate.ci_low > 0").exit_code == 1
