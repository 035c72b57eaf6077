"""Aggregate parsed (or raw, parsed on the fly) outputs into metrics: ``run(paths, options)`` is
``tp stats`` as a library call, returning the report the command renders.

Per sample: status, lengths, and with a gold answer, correctness. Per group (``--by``) and per
input: rates, length percentiles, accuracy (avg@n), rpass@1, unbiased pass@k and maj@k, with
their intervals. The steps, each a pure library entry, live in one module per concept:

- ``options``: ``StatsOptions`` and the names every report shares;
- ``tally``: workers fold their blocks of records into one ``Tally`` per group;
- ``columns``: each input is one column of tallies; ``judge`` grades them once, over distinct
  (answer, gold) pairs; ``rows`` and ``samples`` build the report and the per-sample log;
- ``metrics``: the numbers of one group.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fields import GOLD_FIELDS
from ..parse import Parser
from .columns import Column, Judged, check_fields, collect, has_tokens, judge, rows, samples, write_samples
from .metrics import majority_at_k, metric_names, metrics, pass_at_k
from .options import FAILED, NO_GRADING, StatsOptions, check_options
from .tally import (
    Sample,
    StatsJob,
    Tally,
    _hashable,  # noqa: F401  (joins keys its gold table as tallies key prompts)
    group_key,
)


@dataclass
class Report:
    """What ``tp stats`` reports. ``rows``: one per (group, input), with the metrics, their intervals
    and, after the first input, ``delta``; ``names``: the metrics in order (``every``: with the interval
    names, as gates and CSV see them); ``columns`` and ``judged``: where the rows came from, for the
    per-sample log and the read summaries."""

    rows: list[dict]
    names: list[str]
    every: list[str]
    columns: list[Column]
    judged: Judged
    tokens: bool


def run(
    paths: list[str],
    options: StatsOptions = StatsOptions(),
    *,
    parser: Parser | None = None,
    progress: bool = False,
    **run_options,
) -> Report:
    """The report for ``paths`` (``[]`` or ``["-"]``: stdin), as ``tp stats`` computes it. ``run_options``
    go to the streaming layer (``on_error``, ``workers``, ``input_format``); ``progress``: a grading bar."""
    from .. import confidence

    check_options(options)
    parser = parser or Parser.create(options.parse)
    columns = collect(paths, options, parser, **run_options)
    judged = judge(columns, options, run_options.get("workers"), progress=progress)
    tokens = options.parse.tokenizer is not None or has_tokens(columns)
    table = rows(columns, options, judged.correct, tokens, judged.verdicts)
    confidence.annotate(table, columns, judged.correct, options.by, paired=options.id is not None)
    names = metric_names(options, tokens)
    return Report(table, names, names + confidence.names(names), columns, judged, tokens)


__all__ = [
    "FAILED",
    "GOLD_FIELDS",
    "NO_GRADING",
    "Column",
    "Judged",
    "Report",
    "Sample",
    "StatsJob",
    "StatsOptions",
    "Tally",
    "check_fields",
    "check_options",
    "collect",
    "group_key",
    "has_tokens",
    "judge",
    "majority_at_k",
    "metric_names",
    "metrics",
    "pass_at_k",
    "rows",
    "run",
    "samples",
    "write_samples",
]
