"""The numbers of one group: rates, length percentiles, accuracy (avg@n), rpass@1, pass@k, maj@k."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ..answers import normalise
from ..formats import STATUSES, VALID
from ..grading import Verdict
from .options import FAILED, LENGTHS, PERCENTILES, StatsOptions
from .tally import Sample, Tally


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentiles(histogram: Counter) -> dict[str, float | int | None]:
    """Mean, p50, p90 and max of the lengths a histogram (length: count) holds."""
    n = sum(histogram.values())
    if not n:
        return dict.fromkeys(PERCENTILES)
    ordered = sorted(histogram.items())

    def rank(q: float) -> int:  # nearest rank: a value that occurs in the data
        wanted, seen = max(math.ceil(q * n) - 1, 0), 0
        for value, count in ordered:
            seen += count
            if wanted < seen:
                return value
        raise AssertionError("unreachable: wanted < n")

    mean = sum(value * count for value, count in ordered) / n
    return {"mean": mean, "p50": rank(0.5), "p90": rank(0.9), "max": ordered[-1][0]}


def metric_names(options: StatsOptions, tokens: bool) -> list[str]:
    """Every metric a report holds, in their stable order."""
    names = ["total", *(f"{s}_rate" for s in (*STATUSES, FAILED)), "answer_rate"]
    for length in LENGTHS:
        if tokens or not length.endswith("tokens"):
            names += [f"{length}_{p}" for p in PERCENTILES]
    names += ["graded", "accuracy", "rpass@1", *(f"pass@{k}" for k in options.ks), *(f"maj@{k}" for k in options.ks)]
    return names


def metrics(
    tally: Tally, correct: list[bool] | None, options: StatsOptions, tokens: bool, verdicts: list[Verdict] | None = None
) -> dict[str, Any]:
    """The metrics of one group; ``correct`` (and ``verdicts``, for maj@k) line up with ``tally.graded``."""
    total = tally.total
    out: dict[str, Any] = {"total": total}
    for status in STATUSES:
        out[f"{status}_rate"] = _rate(tally.counts[status], total)
    out[f"{FAILED}_rate"] = _rate(tally.failed, total)
    out["answer_rate"] = _rate(tally.answered, total)
    for length in LENGTHS:
        if tokens or not length.endswith("tokens"):
            for p, value in _percentiles(tally.lengths[length]).items():
                out[f"{length}_{p}"] = value
    out.update(_accuracy(tally, correct or [], options.ks))
    for k in options.ks:
        out[f"maj@{k}"] = majority_at_k(tally.graded, verdicts, k) if verdicts is not None else None
    return out


def _accuracy(tally: Tally, correct: list[bool], ks: tuple[int, ...]) -> dict[str, Any]:
    per_prompt: dict[Any, list[int]] = {}
    valid = valid_correct = 0
    for sample, ok in zip(tally.graded, correct):
        n_c = per_prompt.setdefault(sample.prompt, [0, 0])
        n_c[0] += 1
        n_c[1] += ok
        if sample.status == VALID:
            valid += 1
            valid_correct += ok
    prompts = per_prompt.values()
    out: dict[str, Any] = {
        "graded": len(tally.graded),
        # avg@n: the share of each prompt's samples that are correct, averaged over prompts
        "accuracy": sum(c / n for n, c in prompts) / len(prompts) if prompts else None,
        "rpass@1": _rate(valid_correct, valid),
    }
    for k in ks:
        eligible = [pass_at_k(n, c, k) for n, c in prompts if n >= k]
        out[f"pass@{k}"] = sum(eligible) / len(eligible) if eligible else None
    return out


def majority_at_k(graded: list[Sample], verdicts: list[Verdict], k: int) -> float | None:
    """maj@k (cons@k): over prompts with at least k samples, the share whose first k samples'
    most common answer is correct. Correct answers are one answer (each equals the gold, by
    the grader); wrong ones group by their extracted text (normalised); a sample with no
    extracted answer casts no vote; a tie is not a majority."""
    votes: dict[Any, list[Verdict]] = {}
    for sample, verdict in zip(graded, verdicts):
        votes.setdefault(sample.prompt, []).append(verdict)
    scores = []
    for first in (v[:k] for v in votes.values() if len(v) >= k):
        right = sum(v.correct for v in first)
        wrong: dict[str, int] = {}
        for v in first:
            if not v.correct and v.pred is not None:
                wrong[normalise(v.pred)] = wrong.get(normalise(v.pred), 0) + 1
        scores.append(right > max(wrong.values(), default=0))
    return sum(scores) / len(scores) if scores else None
