"""Aggregate parsed (or raw, parsed on the fly) outputs into metrics.

Per sample: status, lengths, and with a gold answer, correctness. Per group
(``--by``) and per input: rates, length percentiles, accuracy (avg@n), rpass@1,
unbiased pass@k and maj@k. Workers fold their blocks into ``Tally`` objects that
the main process merges; grading runs once at the end over distinct (answer, gold)
pairs. ``collect``, ``judge``, ``rows`` and ``samples`` are pure library entries:
the CLI only wires them to options and outputs.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from .answers import normalise
from . import paths
from .errors import RecordError, UsageError
from .fields import GOLD_FIELDS
from .formats import STATUSES, TRUNCATED, VALID
from .grading import GRADERS, NO_GOLD, Grader, Verdict
from .parse import ParseOptions, Parser, is_parsed

NO_GRADING = "none"
# A sample whose output is null (a failed request): counted, and graded wrong, never dropped.
FAILED = "failed"
LENGTHS = ("reasoning_chars", "answer_chars", "reasoning_tokens", "answer_tokens")
PERCENTILES = ("mean", "p50", "p90", "max")


@dataclass(frozen=True)
class StatsOptions:
    parse: ParseOptions = ParseOptions()
    by: tuple[str, ...] = ()
    gold: str | None = None  # a field or dotted path; None: the first of GOLD_FIELDS a record has
    id: str | None = None  # records sharing it are samples of one prompt; else each record is one prompt
    ks: tuple[int, ...] = ()
    grader: str = "math"
    timeout: float = 5.0
    samples: bool = False  # keep every sample, gold or not, for a per-sample log
    gold_table: dict | None = None  # --gold-file: {id: gold}, for records without a gold of their own


class Sample(NamedTuple):
    """One sample as graded: its prompt key, the answer text to grade (None: nothing to grade), the gold,
    its parse status, and where it came from (line in its input, position in the record's list, id)."""

    prompt: Any
    answer: str | None
    gold: Any
    status: str
    line: int
    index: int | None
    id: Any


@dataclass
class Tally:
    """Everything one group needs for its metrics; two tallies merge by addition."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    failed: int = 0
    answered: int = 0
    lengths: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in LENGTHS})
    # Each sample with a gold answer, in input order (``ungraded``: the others, kept only for --samples)
    graded: list[Sample] = field(default_factory=list)
    ungraded: list[Sample] = field(default_factory=list)
    # How many records have each field asked for (--gold, --by), to refuse a field no record has
    seen: dict[str, int] = field(default_factory=dict)

    def add(self, status, reasoning, answer, reasoning_tokens, answer_tokens) -> None:
        if status == FAILED:
            self.failed += 1
            return
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
        self.failed += other.failed
        self.answered += other.answered
        for name, values in other.lengths.items():
            self.lengths[name].extend(values)
        self.graded.extend(other.graded)
        self.ungraded.extend(other.ungraded)
        for name, n in other.seen.items():
            self.seen[name] = self.seen.get(name, 0) + n

    def at_line(self, first: int) -> None:
        """Line offsets in a block become lines of the input, the block starting at line ``first``:
        without --id, each line is one prompt, wherever its block starts."""
        def moved(sample: Sample) -> Sample:
            prompt = ("line", sample.prompt[1] + first) if sample.prompt[0] == "line" else sample.prompt
            return sample._replace(prompt=prompt, line=sample.line + first)

        self.graded = [moved(s) for s in self.graded]
        self.ungraded = [moved(s) for s in self.ungraded]

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.failed

    @property
    def tokens(self) -> bool:
        return bool(self.lengths["reasoning_tokens"] or self.lengths["answer_tokens"])


class Groups(dict):
    """A column's tallies by group key. Keys keep each value's type, so ``1``, ``True`` and
    ``1.0`` are three groups; ``get`` also takes the plain values a report row shows."""

    def get(self, key, default=None):
        return super().get(key if key in self else group_key(key), default)


def group_key(values: tuple) -> tuple:
    """The key of the group whose fields hold ``values`` (as ``rows`` shows them)."""
    return tuple(None if v is None else (type(v).__name__, v) for v in values)


class StatsJob:
    """Folds a block of records into one ``Tally`` per group (runs in workers)."""

    def __init__(self, options: StatsOptions, parser: Parser):
        self.options = options
        self.parser = parser
        self.asked = tuple(dict.fromkeys((*options.by, *(f for f in (options.gold, options.id) if f))))

    def run(self, rows: list[tuple[int, dict]]):
        tallies: dict[tuple, Tally] = {}
        errors: list[tuple[int, str]] = []
        parsed_rows = []
        for line, record, _ in rows:
            failed: tuple[int, ...] = ()
            if not is_parsed(record):
                try:
                    failed = self._parse(record)
                except RecordError as e:
                    errors.append((line, str(e)))
                    continue
            parsed_rows.append((line, record, failed))
        if self.parser.tokenizer is not None:
            self.parser.count_tokens([r for _, r, _ in parsed_rows if "reasoning_tokens" not in r])
        for line, record, failed in parsed_rows:
            key = tuple(_group_value(record, name) for name in self.options.by)
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = Tally()
            for name in self.asked:
                if _lookup(record, name) is not None:
                    tally.seen[name] = tally.seen.get(name, 0) + 1
            self._add(tally, line, record, failed)
        return tallies, errors, len(parsed_rows)

    def _parse(self, record: dict) -> tuple[int, ...]:
        """Parses ``record``; returns the positions of its samples whose output is null (a failed
        request), parsed as empty outputs and then counted as failed."""
        try:
            self.parser.parse_record(record)
            return ()
        except RecordError as error:
            try:
                name, parents, text = self.parser._text(record)
            except RecordError:
                raise error from None
            parent, key = parents[-1], name.rsplit(".", 1)[-1]
            if not isinstance(parent, dict) or parent.get(key) is not text:
                raise
            if text is None:
                parent[key] = ""
                failed: tuple[int, ...] = (0,)
            elif isinstance(text, list) and None in text:
                parent[key] = ["" if t is None else t for t in text]
                failed = tuple(i for i, t in enumerate(text) if t is None)
            else:
                raise
            self.parser.parse_record(record)
            parent[key] = text
            return failed

    def _add(self, tally: Tally, line: int, record: dict, failed: tuple[int, ...]) -> None:
        samples = _samples(record)
        gold = self._gold(record)
        record_id = _hashable(_lookup(record, self.options.id)) if self.options.id else None
        # A record without the id is a prompt of its own, not one with every other such record.
        prompt = ("id", record_id) if record_id is not None else ("line", line)
        several = isinstance(record.get("status"), list)
        for i, (status, reasoning, answer, reasoning_tokens, answer_tokens) in enumerate(samples):
            if i in failed:
                status = FAILED
            tally.add(status, reasoning, answer, reasoning_tokens, answer_tokens)
            # A truncated sample is wrong whatever its text says; a failed one has no text.
            text = None if status in (TRUNCATED, FAILED) else answer
            sample = Sample(prompt, text, gold, status, line, i if several else None, record_id)
            if gold is not None:
                tally.graded.append(sample)
            elif self.options.samples:
                tally.ungraded.append(sample)

    def _gold(self, record: dict) -> Any:
        if self.options.grader == NO_GRADING:
            return None
        for name in (self.options.gold,) if self.options.gold else GOLD_FIELDS:
            value = _lookup(record, name)
            if value is not None and value != "" and value != []:
                return value
        if self.options.gold_table is not None:
            return self.options.gold_table.get(_hashable(_lookup(record, self.options.id)))
        return None


def _samples(record: dict) -> list[tuple]:
    columns = [record.get(k) for k in ("status", "reasoning", "answer", "reasoning_tokens", "answer_tokens")]
    if isinstance(columns[0], list):
        return [tuple(c[i] if isinstance(c, list) else None for c in columns) for i in range(len(columns[0]))]
    return [tuple(columns)]


def _lookup(record: dict, path: str) -> Any:
    """The value at a field name or path (``meta.model``, ``choices.0.text``, ``outputs[*].text``; see
    ``paths``), or None."""
    return paths.get(record, path)


def _group_value(record: dict, dotted: str) -> Any:
    value = _hashable(_lookup(record, dotted))
    return None if value is None else (type(value).__name__, value)


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
    names = ["total", *(f"{s}_rate" for s in (*STATUSES, FAILED)), "answer_rate"]
    for length in LENGTHS:
        if tokens or not length.endswith("tokens"):
            names += [f"{length}_{p}" for p in PERCENTILES]
    names += ["graded", "accuracy", "rpass@1", *(f"pass@{k}" for k in options.ks), *(f"maj@{k}" for k in options.ks)]
    return names


def metrics(tally: Tally, correct: list[bool] | None, options: StatsOptions, tokens: bool,
            verdicts: list[Verdict] | None = None) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------- running


@dataclass
class Column:
    """One input's tallies per group and what happened to its records."""

    name: str
    tallies: Groups
    summary: Any


@dataclass
class Judged:
    """What grading found: per tally (by ``id(tally)``), a ``Verdict`` and its ``correct``
    for each graded sample, in order; and how many samples ran out of time."""

    verdicts: dict[int, list[Verdict]] = field(default_factory=dict)
    correct: dict[int, list[bool]] = field(default_factory=dict)
    timeouts: int = 0


def collect(paths: list[str], options: StatsOptions, parser: Parser, **run_options) -> list[Column]:
    """Tally every input separately (each input is one column of the report)."""
    from . import streams

    job = StatsJob(options, parser)
    columns = []
    for path in paths or ["-"]:
        tallies = Groups()

        def merge(partial: dict[tuple, Tally], first: int, tallies=tallies) -> None:
            for key, tally in partial.items():
                tally.at_line(first)
                if key in tallies:
                    tallies[key].merge(tally)
                else:
                    tallies[key] = tally

        summary = streams.run_job([path], job, merge, label=f"stats {path}", with_line=True, **run_options)
        columns.append(Column("<stdin>" if path == "-" else path, tallies, summary))
    check_fields(columns, options)
    return columns


def check_fields(columns: list[Column], options: StatsOptions) -> None:
    """A --gold, --by or --id field that no record has is a mistake (a typo, the wrong file), not a zero."""
    seen: dict[str, int] = {}
    for tally in (t for c in columns for t in c.tallies.values()):
        for name, n in tally.seen.items():
            seen[name] = seen.get(name, 0) + n
    if not any(c.summary.read for c in columns):
        return
    gold = (options.gold,) if options.gold and options.grader != NO_GRADING else ()
    for option, names in (("--by", options.by), ("--gold", gold), ("--id", (options.id,) if options.id else ())):
        for name in names:
            if not seen.get(name):
                raise UsageError(f"{option} {name}: no record has this field")


def judge(columns: list[Column], options: StatsOptions, workers: int | None = None, progress: bool = True) -> Judged:
    """Grade every graded sample of every column, each distinct (answer, gold) once."""
    from . import console

    tallies = [t for c in columns for t in c.tallies.values() if t.graded]
    judged = Judged()
    if not tallies:
        return judged
    pairs = [(sample.answer, sample.gold) for t in tallies for sample in t.graded]
    bar = console.progress("grading", len(pairs), unit="answers") if progress else nullcontext()
    with Grader(options.grader, timeout=options.timeout, workers=workers) as grader, bar as bar:
        results = grader.verdicts(pairs, bar)
    start = 0
    for t in tallies:
        judged.verdicts[id(t)] = results[start : start + len(t.graded)]
        judged.correct[id(t)] = [v.correct for v in judged.verdicts[id(t)]]
        start += len(t.graded)
    judged.timeouts = grader.timeouts
    return judged


def grade(columns: list[Column], options: StatsOptions, workers: int | None) -> tuple[dict[int, list[bool]], int]:
    """Correctness for every graded sample, keyed by ``id(tally)``; and the timeouts."""
    judged = judge(columns, options, workers)
    return judged.correct, judged.timeouts


def rows(columns: list[Column], options: StatsOptions, correct: dict[int, list[bool]], tokens: bool | None = None,
         verdicts: dict[int, list[Verdict]] | None = None) -> list[dict]:
    """One row per (group, input): group fields, input, metrics and deltas against the first input.
    ``tokens`` None: token lengths when any record carries token counts."""
    if tokens is None:
        tokens = has_tokens(columns)
    keys = list(dict.fromkeys(k for c in columns for k in c.tallies))
    if not options.by:
        keys = [()]  # one overall row, even for empty input
    out = []
    for key in sorted(keys, key=_sort_key):
        first = None
        for i, column in enumerate(columns):
            tally = column.tallies.get(key, Tally())
            row: dict[str, Any] = {name: None if v is None else v[1] for name, v in zip(options.by, key)}
            if len(columns) > 1:
                row["input"] = column.name
            values = metrics(tally, correct.get(id(tally)), options, tokens,
                             None if verdicts is None else verdicts.get(id(tally), []))
            row.update(values)
            if i == 0:
                first = values
            else:
                row["delta"] = {name: _delta(values[name], first[name]) for name in values}
            out.append(row)
    return out


def has_tokens(columns: list[Column]) -> bool:
    """Whether any record carries token counts (from tp parse --tokenizer, or counted here)."""
    return any(t.tokens for c in columns for t in c.tallies.values())


def stats(paths: list[str], options: StatsOptions = StatsOptions(), **run_options) -> list[dict]:
    """The report rows for ``paths``, as ``tp stats --json`` gives them (a library entry)."""
    from .parse import Parser

    check_options(options)
    columns = collect(paths, options, Parser.create(options.parse), **run_options)
    judged = judge(columns, options, run_options.get("workers"), progress=False)
    return rows(columns, options, judged.correct, None, judged.verdicts)


def samples(columns: list[Column], options: StatsOptions, judged: Judged):
    """Each sample as graded, like lm-eval's logged samples: input, line, sample position,
    id, group fields, parse status, gold, extracted ``pred``, ``correct``, ``grade_status``
    and the ``rule`` that decided."""
    for column in columns:
        entries = []
        for key, tally in column.tallies.items():
            group = {name: None if v is None else v[1] for name, v in zip(options.by, key)}
            verdicts = judged.verdicts.get(id(tally), [])
            entries += [(s, group, v) for s, v in zip(tally.graded, verdicts)]
            entries += [(s, group, Verdict(False, None, NO_GOLD)) for s in tally.ungraded]
        entries.sort(key=lambda e: (e[0].line, e[0].index or 0))
        for sample, group, verdict in entries:
            out = {"input": column.name, "line": sample.line}
            if sample.index is not None:
                out["sample"] = sample.index
            if options.id:
                out["id"] = sample.id
            out.update(group)
            out.update(status=sample.status, gold=sample.gold, pred=verdict.pred, correct=verdict.correct,
                       grade_status=verdict.status, rule=verdict.rule)
            yield out


def write_samples(path: str, entries: Iterable[dict]) -> None:
    """Write per-sample entries to ``path`` (JSONL or Parquet, atomically, as every tp output)."""
    from . import streams

    sink = streams.open_sink(path)
    try:
        entries = list(entries)
        sink.write(entries if sink.encoding != "jsonl" else [streams.encode_jsonl(entries)])
    except BaseException:
        sink.abort()
        raise
    sink.commit()


def _delta(value: Any, base: Any) -> Any:
    if isinstance(value, (int, float)) and isinstance(base, (int, float)):
        return value - base
    return None


def _sort_key(key: tuple) -> tuple:
    return tuple((v is None, "" if v is None else v[0], _orderable(v)) for v in key)


def _orderable(v: Any) -> Any:
    if v is None:
        return ""
    return v[1] if isinstance(v[1], (int, float, str)) and not isinstance(v[1], bool) else str(v[1])


def check_options(options: StatsOptions) -> None:
    if options.grader not in (*GRADERS, NO_GRADING):
        raise UsageError(f"--grader must be one of {', '.join(GRADERS)}, {NO_GRADING}")
    if any(k < 1 for k in options.ks):
        raise UsageError("--k values must be positive integers")


__all__ = [
    "FAILED", "GOLD_FIELDS", "Column", "Judged", "Sample", "StatsOptions", "Tally", "collect", "grade", "group_key",
    "has_tokens", "judge", "majority_at_k", "metric_names", "metrics", "pass_at_k", "rows", "samples", "stats",
]
