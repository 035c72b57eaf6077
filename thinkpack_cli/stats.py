"""Aggregate parsed (or raw, parsed on the fly) outputs into metrics.

Per sample: status, lengths, and with a gold answer, correctness. Per group
(``--by``) and per input: rates, length percentiles, accuracy, rpass@1 and
unbiased pass@k. Workers fold their blocks into ``Tally`` objects that the main
process merges; grading runs once at the end over distinct (answer, gold) pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import RecordError, UsageError
from .formats import STATUSES, TRUNCATED, VALID
from .grading import GRADERS, Grader, extract_answer
from .parse import ParseOptions, Parser, is_parsed

GOLD_FIELDS = ("gold", "reference")
NO_GRADING = "none"
LENGTHS = ("reasoning_chars", "answer_chars", "reasoning_tokens", "answer_tokens")
PERCENTILES = ("mean", "p50", "p90", "max")


@dataclass(frozen=True)
class StatsOptions:
    parse: ParseOptions = ParseOptions()
    by: tuple[str, ...] = ()
    gold: str | None = None  # None: the first of GOLD_FIELDS a record has
    id: str | None = None  # records sharing it are samples of one prompt
    ks: tuple[int, ...] = ()
    grader: str = "math"
    timeout: float = 5.0


@dataclass
class Tally:
    """Everything one group needs for its metrics; two tallies merge by addition."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    answered: int = 0
    lengths: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in LENGTHS})
    # (prompt key, predicted answer or None, gold, status) for each sample with a gold answer
    graded: list[tuple[Any, str | None, Any, str]] = field(default_factory=list)

    def add(self, status, reasoning, answer, reasoning_tokens, answer_tokens) -> None:
        self.counts[status] += 1
        if reasoning is not None:
            self.lengths["reasoning_chars"].append(len(reasoning))
            if reasoning_tokens is not None:
                self.lengths["reasoning_tokens"].append(reasoning_tokens)
        if answer:
            self.answered += 1
            self.lengths["answer_chars"].append(len(answer))
            if answer_tokens is not None:
                self.lengths["answer_tokens"].append(answer_tokens)

    def merge(self, other: Tally) -> None:
        for status, n in other.counts.items():
            self.counts[status] += n
        self.answered += other.answered
        for name, values in other.lengths.items():
            self.lengths[name].extend(values)
        self.graded.extend(other.graded)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class StatsJob:
    """Folds a block of records into one ``Tally`` per group (runs in workers)."""

    def __init__(self, options: StatsOptions, parser: Parser):
        self.options = options
        self.parser = parser

    def run(self, rows: list[tuple[int, dict]]):
        tallies: dict[tuple, Tally] = {}
        errors: list[tuple[int, str]] = []
        parsed_rows = []
        for line, record, _ in rows:
            if not is_parsed(record):
                try:
                    self.parser.parse_record(record)
                except RecordError as e:
                    errors.append((line, str(e)))
                    continue
            parsed_rows.append((line, record))
        if self.parser.tokenizer is not None:
            self.parser.count_tokens([r for _, r in parsed_rows if "reasoning_tokens" not in r])
        for line, record in parsed_rows:
            key = tuple(_group_value(record, name) for name in self.options.by)
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = Tally()
            self._add(tally, line, record)
        return tallies, errors, len(parsed_rows)

    def _add(self, tally: Tally, line: int, record: dict) -> None:
        samples = _samples(record)
        gold = self._gold(record)
        prompt = ("id", _hashable(record.get(self.options.id))) if self.options.id else ("line", line)
        for status, reasoning, answer, reasoning_tokens, answer_tokens in samples:
            tally.add(status, reasoning, answer, reasoning_tokens, answer_tokens)
            if gold is not None:
                # A truncated sample is wrong whatever its text says.
                prediction = None if status == TRUNCATED else extract_answer(answer)
                tally.graded.append((prompt, prediction, gold, status))

    def _gold(self, record: dict) -> Any:
        if self.options.grader == NO_GRADING:
            return None
        names = (self.options.gold,) if self.options.gold else GOLD_FIELDS
        for name in names:
            value = record.get(name)
            if value is not None and value != "":
                return value
        return None


def _samples(record: dict) -> list[tuple]:
    columns = [record.get(k) for k in ("status", "reasoning", "answer", "reasoning_tokens", "answer_tokens")]
    if isinstance(columns[0], list):
        return [tuple(c[i] if isinstance(c, list) else None for c in columns) for i in range(len(columns[0]))]
    return [tuple(columns)]


def _group_value(record: dict, dotted: str) -> Any:
    node: Any = record
    for key in dotted.split("."):
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return _hashable(node)


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


# ---------------------------------------------------------------------------- metrics


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentiles(values: list[int]) -> dict[str, float | int | None]:
    if not values:
        return dict.fromkeys(PERCENTILES)
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> int:  # nearest rank: a value that occurs in the data
        return ordered[max(math.ceil(q * n) - 1, 0)]

    return {"mean": sum(ordered) / n, "p50": rank(0.5), "p90": rank(0.9), "max": ordered[-1]}


def metric_names(options: StatsOptions, tokens: bool) -> list[str]:
    """Every metric a report holds, in their stable order."""
    names = ["total", *(f"{s}_rate" for s in STATUSES), "answer_rate"]
    for length in LENGTHS:
        if tokens or not length.endswith("tokens"):
            names += [f"{length}_{p}" for p in PERCENTILES]
    names += ["graded", "accuracy", "rpass@1", *(f"pass@{k}" for k in options.ks)]
    return names


def metrics(tally: Tally, correct: list[bool] | None, options: StatsOptions, tokens: bool) -> dict[str, Any]:
    """The metrics of one group; ``correct`` lines up with ``tally.graded``."""
    total = tally.total
    out: dict[str, Any] = {"total": total}
    for status in STATUSES:
        out[f"{status}_rate"] = _rate(tally.counts[status], total)
    out["answer_rate"] = _rate(tally.answered, total)
    for length in LENGTHS:
        if tokens or not length.endswith("tokens"):
            for p, value in _percentiles(tally.lengths[length]).items():
                out[f"{length}_{p}"] = value
    out.update(_accuracy(tally, correct or [], options.ks))
    return out


def _accuracy(tally: Tally, correct: list[bool], ks: tuple[int, ...]) -> dict[str, Any]:
    per_prompt: dict[Any, list[int]] = {}
    valid = valid_correct = 0
    for (prompt, _, _, status), ok in zip(tally.graded, correct):
        n_c = per_prompt.setdefault(prompt, [0, 0])
        n_c[0] += 1
        n_c[1] += ok
        if status == VALID:
            valid += 1
            valid_correct += ok
    prompts = per_prompt.values()
    out: dict[str, Any] = {
        "graded": len(tally.graded),
        # pass@1 averaged over each prompt's samples, then over prompts
        "accuracy": sum(c / n for n, c in prompts) / len(prompts) if prompts else None,
        "rpass@1": _rate(valid_correct, valid),
    }
    for k in ks:
        eligible = [pass_at_k(n, c, k) for n, c in prompts if n >= k]
        out[f"pass@{k}"] = sum(eligible) / len(eligible) if eligible else None
    return out


# ---------------------------------------------------------------------------- running


@dataclass
class Column:
    """One input's tallies per group and what happened to its records."""

    name: str
    tallies: dict[tuple, Tally]
    summary: Any


def collect(paths: list[str], options: StatsOptions, parser: Parser, **run_options) -> list[Column]:
    """Tally every input separately (each input is one column of the report)."""
    from . import streams

    job = StatsJob(options, parser)
    columns = []
    for path in paths or ["-"]:
        tallies: dict[tuple, Tally] = {}

        def merge(partial: dict[tuple, Tally], tallies=tallies) -> None:
            for key, tally in partial.items():
                if key in tallies:
                    tallies[key].merge(tally)
                else:
                    tallies[key] = tally

        summary = streams.run_job([path], job, merge, label=f"stats {path}", **run_options)
        columns.append(Column("<stdin>" if path == "-" else path, tallies, summary))
    return columns


def grade(columns: list[Column], options: StatsOptions, workers: int | None) -> tuple[dict[int, list[bool]], int]:
    """Correctness for every graded sample, keyed by ``id(tally)``; and the timeouts."""
    tallies = [t for c in columns for t in c.tallies.values() if t.graded]
    if not tallies:
        return {}, 0
    with Grader(options.grader, timeout=options.timeout, workers=workers) as grader:
        results = grader.grade([(prediction, gold) for t in tallies for _, prediction, gold, _ in t.graded])
    out, start = {}, 0
    for t in tallies:
        out[id(t)] = results[start : start + len(t.graded)]
        start += len(t.graded)
    return out, grader.timeouts


def rows(columns: list[Column], options: StatsOptions, correct: dict[int, list[bool]], tokens: bool) -> list[dict]:
    """One row per (group, input): group fields, input, metrics and deltas against the first input."""
    keys = list(dict.fromkeys(k for c in columns for k in c.tallies))
    if not options.by:
        keys = [()]  # one overall row, even for empty input
    out = []
    for key in sorted(keys, key=_sort_key):
        first = None
        for i, column in enumerate(columns):
            tally = column.tallies.get(key, Tally())
            row: dict[str, Any] = dict(zip(options.by, key))
            if len(columns) > 1:
                row["input"] = column.name
            values = metrics(tally, correct.get(id(tally)), options, tokens)
            row.update(values)
            if i == 0:
                first = values
            else:
                row["delta"] = {name: _delta(values[name], first[name]) for name in values}
            out.append(row)
    return out


def _delta(value: Any, base: Any) -> Any:
    if isinstance(value, (int, float)) and isinstance(base, (int, float)):
        return value - base
    return None


def _sort_key(key: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if isinstance(v, (int, float, str)) else str(v)) for v in key)


def check_options(options: StatsOptions) -> None:
    if options.grader not in (*GRADERS, NO_GRADING):
        raise UsageError(f"--grader must be one of {', '.join(GRADERS)}, {NO_GRADING}")
    if any(k < 1 for k in options.ks):
        raise UsageError("--k values must be positive integers")


__all__ = ["GOLD_FIELDS", "StatsOptions", "Tally", "collect", "grade", "metric_names", "metrics", "pass_at_k", "rows"]
