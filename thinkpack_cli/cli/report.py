"""``tp report``: options wired to ``html_report``, nothing more."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from .app import command
from .options import (
    CloseTag,
    Field,
    Format,
    Gold,
    Grader,
    Id,
    InputFormat,
    Inputs,
    OnError,
    OpenTag,
    Prefixed,
    Preset,
    PromptField,
    Quiet,
    SkippedFile,
    SplitReasoning,
    Tokenizer,
    Workers,
    parse_options,
    split_list,
)

REPORT_EPILOG = """[b]Examples[/b]

  tp report baseline.jsonl candidate.jsonl --id problem_id -o report.html
  tp report details_*.parquet --preset lighteval --by doc.task_name -o lighteval.html
"""


@command("report", epilog=REPORT_EPILOG)
def report(
    inputs: Inputs = None,
    output: Annotated[str, typer.Option("--output", "-o", help="The HTML file to write.")] = "report.html",
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: the input names).")] = None,
    by: Annotated[
        Optional[str], typer.Option("--by", help="Group the headline table by these fields (comma-separated).")
    ] = None,
    gold: Gold = None,
    gold_file: Annotated[
        Optional[str], typer.Option("--gold-file", help="Gold answers in another file, joined by --id (as tp stats).")
    ] = None,
    id_field: Id = None,
    grader: Grader = "math",
    grade_timeout: Annotated[
        float, typer.Option("--grade-timeout", min=0.01, help="Seconds per answer before it counts as wrong.")
    ] = 5.0,
    preset: Preset = None,
    field: Field = None,
    format: Format = "auto",
    open_tag: OpenTag = None,
    close_tag: CloseTag = None,
    prefixed: Prefixed = None,
    tokenizer: Tokenizer = None,
    prompt_field: PromptField = "prompt",
    reasoning_field: SplitReasoning = None,
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    workers: Workers = None,
    quiet: Quiet = False,
    skipped: SkippedFile = None,
):
    """Write one self-contained HTML page comparing runs: headline with intervals, accuracy by reasoning length, length histograms per status, think rate (AutoThink), per-problem wins and flips, example records.

    Each input is one run. The page needs no network to open: charts are inline SVG.
    """
    import tempfile

    from .. import console, html_report, joins, presets, streams
    from .. import stats as stats_lib
    from ..errors import UsageError
    from ..parse import Parser

    if not inputs or "-" in inputs:
        raise UsageError("tp report reads files (each input is read twice), not stdin")
    field, gold, id_field = presets.apply(preset, field=field, gold=gold, id=id_field)
    options = stats_lib.StatsOptions(
        parse=parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field),
        by=tuple(split_list(by)),
        gold=None if gold_file else gold,
        id=id_field,
        grader=grader,
        timeout=grade_timeout,
        samples=True,
        gold_table=joins.load_gold(gold_file, id_field, gold) if gold_file else None,
    )
    stats_lib.check_options(options)
    parser = Parser.create(options.parse)
    report, runs = html_report.collect(
        inputs, options, parser, on_error=on_error, workers=workers, input_format=input_format
    )
    page = html_report.render(report.rows, runs, options.by, title or f"tp report: {', '.join(inputs)}")
    folder = os.path.dirname(os.path.abspath(output))
    fd, temp = tempfile.mkstemp(prefix=".tp-report-", suffix=".html", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the page from a web server or a colleague
    os.replace(temp, output)
    if skipped:  # every input's skipped lines in one file
        streams.Summary(skipped=[line for column in report.columns for line in column.summary.skipped]).write_skipped(
            skipped
        )
    if not quiet:
        for column in report.columns:
            column.summary.report(f"report {column.name}", verb="counted", skipped_file=skipped)
        console.say(f"tp report: {sum(len(r.facts) for r in runs):,} samples from {len(runs)} runs → {output}")
