"""How sure a number is: 95% intervals for rates and accuracy, and for run-vs-run accuracy changes.

- A rate over samples (``valid_rate``, ``truncated_rate``, …) gets the Wilson score interval: exact in closed
  form, and honest at 0/n and n/n, where a normal or bootstrap interval collapses to a point.
- ``accuracy`` is a mean over prompts of each prompt's share of correct samples. With one sample per prompt
  it is a rate (Wilson); with several, a percentile bootstrap over prompts (the prompt is the unit that was
  sampled). ``accuracy.se`` is the standard error of that mean (sample deviation / √prompts, as lm-eval's
  ``acc_stderr``).
- ``delta.RATE.ci_*``: Newcombe's interval for a difference of two proportions, from the two Wilson intervals.
- ``delta.accuracy.ci_*``: with ``--id``, a paired bootstrap over the prompts both runs share (the same
  resampled prompts on both sides, so prompt difficulty cancels); without ids there is nothing to pair, and
  each run is resampled on its own.

Every bootstrap draws from one fixed seed, so the same inputs give the same intervals on every machine.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

Z95 = 1.959963984540054  # the 97.5% normal quantile
RESAMPLES = 2000
SEED = 20240917
# Above this many prompt draws (resamples × prompts) the normal interval (mean ± z·se) is used instead: the
# bootstrap's cost grows with both, and at that size the two agree to well under a tenth of a point.
MAX_DRAWS = 40_000_000
BOUNDS = ("ci_low", "ci_high")
ACCURACY_NAMES = ["accuracy.se", *(f"accuracy.{b}" for b in BOUNDS)]
# ``delta.accuracy.ci_high`` is the change's own interval, not a difference of two intervals.
DELTA_NAMES = [*ACCURACY_NAMES, "accuracy.paired"]


def names(metrics: list[str]) -> list[str]:
    """The interval names a report row carries beside ``metrics`` (every ``*_rate`` and accuracy)."""
    return [*(f"{m}.{b}" for m in metrics if m.endswith("_rate") for b in BOUNDS), *DELTA_NAMES]


# ---------------------------------------------------------------------------- closed forms


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion (Wilson, 1927); ``(None, None)`` for n = 0."""
    if n <= 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0/n and n/n one end is exactly 0 or 1 (rounding would leave 0.9999999999999999).
    return (0.0 if successes == 0 else center - half), (1.0 if successes == n else center + half)


def newcombe(base: int, n_base: int, other: int, n_other: int) -> tuple[float | None, float | None]:
    """The interval of other/n_other - base/n_base from the two Wilson intervals (Newcombe, 1998, method 10)."""
    (l1, u1), (l2, u2) = wilson(base, n_base), wilson(other, n_other)
    if l1 is None or l2 is None:
        return None, None
    p1, p2 = base / n_base, other / n_other
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def standard_error(values: list[float]) -> float | None:
    """The standard error of a mean: sample standard deviation (n - 1) over √n; None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n)


# ---------------------------------------------------------------------------- bootstrap


def bootstrap_mean(
    values: list[float], resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float | None, float | None]:
    """The 95% percentile-bootstrap interval of the mean of ``values``."""
    if len(values) < 2:
        return None, None
    import numpy as np

    data = np.asarray(values, dtype=float)
    if resamples * len(data) > MAX_DRAWS:
        return _normal(values)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    return _percentiles(means)


def bootstrap_difference(
    base: list[float], other: list[float], resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float | None, float | None]:
    """The interval of mean(other) - mean(base), each resampled on its own (nothing pairs them)."""
    if len(base) < 2 or len(other) < 2:
        return None, None
    import numpy as np

    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if resamples * (len(a) + len(b)) > MAX_DRAWS:
        se = math.hypot(standard_error(base), standard_error(other))
        mid = b.mean() - a.mean()
        return float(mid - Z95 * se), float(mid + Z95 * se)
    rng = np.random.default_rng(seed)
    diffs = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1) - a[
        rng.integers(0, len(a), size=(resamples, len(a)))
    ].mean(axis=1)
    return _percentiles(diffs)


def _percentiles(draws) -> tuple[float, float]:
    import numpy as np

    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def _normal(values: list[float]) -> tuple[float | None, float | None]:
    se = standard_error(values)
    mean = math.fsum(values) / len(values)
    return mean - Z95 * se, mean + Z95 * se


# ---------------------------------------------------------------------------- accuracy per prompt


def per_prompt(graded: Iterable[tuple], correct: Iterable[bool]) -> dict[Any, tuple[int, int]]:
    """(samples, correct samples) per prompt key; ``graded`` holds (prompt key, …) tuples lined up with ``correct``."""
    out: dict[Any, list[int]] = {}
    for entry, ok in zip(graded, correct):
        counts = out.setdefault(entry[0], [0, 0])
        counts[0] += 1
        counts[1] += bool(ok)
    return {prompt: (n, c) for prompt, (n, c) in out.items()}


def accuracy_interval(prompts: dict[Any, tuple[int, int]]) -> dict[str, float | None]:
    """``accuracy.se`` and ``accuracy.ci_low/ci_high`` for one group."""
    scores = [c / n for n, c in prompts.values()]
    if prompts and all(n == 1 for n, _ in prompts.values()):
        low, high = wilson(sum(c for _, c in prompts.values()), len(prompts))
    else:
        low, high = bootstrap_mean(scores)
    return {"accuracy.se": standard_error(scores), "accuracy.ci_low": low, "accuracy.ci_high": high}


def delta_interval(
    base: dict[Any, tuple[int, int]], other: dict[Any, tuple[int, int]], paired: bool
) -> dict[str, float | int | None]:
    """The interval of other's accuracy minus base's: paired over shared prompts, else unpaired."""
    if paired:
        shared = [p for p in other if p in base]
        diffs = [other[p][1] / other[p][0] - base[p][1] / base[p][0] for p in shared]
        low, high = bootstrap_mean(diffs)
        se = standard_error(diffs)
        count: int | None = len(shared)
    else:
        a = [c / n for n, c in base.values()]
        b = [c / n for n, c in other.values()]
        low, high = bootstrap_difference(a, b)
        sa, sb = standard_error(a), standard_error(b)
        se = math.hypot(sa, sb) if sa is not None and sb is not None else None
        count = None
    return {"accuracy.se": se, "accuracy.ci_low": low, "accuracy.ci_high": high, "accuracy.paired": count}


# ---------------------------------------------------------------------------- report rows


def _count(row: dict, name: str) -> tuple[int, int]:
    total = row.get("total") or 0
    rate = row.get(name)
    return (round(rate * total) if rate is not None else 0), total


def rate_delta_intervals(base: dict, row: dict) -> dict[str, float | None]:
    """Newcombe intervals of each ``*_rate``'s change against the base row (the samples of two runs are
    independent: rates are not paired)."""
    out: dict[str, float | None] = {}
    for name in row:
        if name.endswith("_rate"):
            out[f"{name}.ci_low"], out[f"{name}.ci_high"] = newcombe(*_count(base, name), *_count(row, name))
    return out


def rate_intervals(row: dict) -> dict[str, float | None]:
    """Wilson intervals for every ``*_rate`` of a row; each rate is a count over the row's ``total`` samples."""
    out: dict[str, float | None] = {}
    for name in [n for n in row if n.endswith("_rate")]:
        out[f"{name}.ci_low"], out[f"{name}.ci_high"] = wilson(*_count(row, name))
    return out


def annotate(
    rows: list[dict], columns: list, correct: dict[int, list[bool]], by: tuple[str, ...], paired: bool
) -> None:
    """Add the intervals to the rows ``stats.rows`` built: one per (group, input), the inputs of a group in
    order, so each row's tally is found by its group key and its position among the inputs."""
    width = len(columns)
    for start in range(0, len(rows), width):
        first: dict | None = None
        base_row = rows[start]
        for i, column in enumerate(columns):
            row = rows[start + i]
            tally = column.tallies.get(tuple(row.get(name) for name in by))
            prompts = per_prompt(tally.graded, correct.get(id(tally), [])) if tally else {}
            row.update(rate_intervals(row))
            row.update(accuracy_interval(prompts) if prompts else dict.fromkeys(ACCURACY_NAMES))
            if i == 0:
                first = prompts
            elif "delta" in row:
                row["delta"].update(rate_delta_intervals(base_row, row))
                row["delta"].update(
                    delta_interval(first, prompts, paired) if first and prompts else dict.fromkeys(DELTA_NAMES)
                )
