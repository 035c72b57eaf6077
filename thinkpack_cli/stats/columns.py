"""Inputs into columns, columns graded, and the report's rows and per-sample log built from them.

Each input is one column: its tallies per group and what happened to its records. Grading runs
once at the end over every column's graded samples, each distinct (answer, gold) pair once.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import UsageError
from ..grading import NO_GOLD, Grader, Verdict
from ..parse import Parser
from .metrics import metrics
from .options import NO_GRADING, StatsOptions
from .tally import Groups, StatsJob, Tally


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
    from .. import streams

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
    from .. import console

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


def rows(
    columns: list[Column],
    options: StatsOptions,
    correct: dict[int, list[bool]],
    tokens: bool | None = None,
    verdicts: dict[int, list[Verdict]] | None = None,
) -> list[dict]:
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
            values = metrics(
                tally,
                correct.get(id(tally)),
                options,
                tokens,
                None if verdicts is None else verdicts.get(id(tally), []),
            )
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
            out.update(
                status=sample.status,
                gold=sample.gold,
                pred=verdict.pred,
                correct=verdict.correct,
                grade_status=verdict.status,
                rule=verdict.rule,
            )
            yield out


def write_samples(path: str, entries: Iterable[dict]) -> None:
    """Write per-sample entries to ``path`` (JSONL or Parquet, atomically, as every tp output)."""
    from .. import streams

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
