"""What ``tp stats`` is asked: the options of one report, and the names every report shares."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..grading import GRADERS
from ..parse import ParseOptions

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


def check_options(options: StatsOptions) -> None:
    if options.grader not in (*GRADERS, NO_GRADING):
        raise UsageError(f"--grader must be one of {', '.join(GRADERS)}, {NO_GRADING}")
    if any(k < 1 for k in options.ks):
        raise UsageError("--k values must be positive integers")
