"""``tp stats``: options wired to ``stats.run`` and the renderers, nothing more."""

from __future__ import annotations

import sys
from typing import Annotated, Literal, Optional

import typer

from .app import command
from .options import (
    CloseTag,
    Field,
    Format,
    Grader,
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
    ints,
    parse_options,
    split_list,
)


@command(
    "stats",
    epilog="""[b]Examples[/b]

  tp parse outputs.jsonl | tp stats - --gold gold --by model
  tp stats parsed.jsonl --id prompt_id --k 1,8,16 --json > stats.json
  tp stats baseline.jsonl candidate.jsonl --gold gold --fail-if 'delta.accuracy < -0.02'
  tp stats eval.jsonl --fail-if 'valid_rate < 0.95' --fail-if 'truncated_rate > 0.02' --markdown >> "$GITHUB_STEP_SUMMARY"
""",
)
def stats(
    inputs: Inputs = None,
    by: Annotated[
        Optional[str], typer.Option("--by", help="Group by these fields (comma-separated, dotted paths allowed).")
    ] = None,
    gold: Annotated[
        Optional[str],
        typer.Option(
            "--gold",
            help="Gold-answer field or dotted path (default: gold or reference, when present). A list is any-of; a GSM8K solution grades against its '#### N'.",
        ),
    ] = None,
    gold_file: Annotated[
        Optional[str],
        typer.Option(
            "--gold-file",
            help="Gold answers in another file (JSONL or Parquet), joined by --id; the gold field is --gold or the first of gold, reference, answer, expected_answer.",
        ),
    ] = None,
    id_field: Annotated[
        Optional[str], typer.Option("--id", help="Records sharing this field are samples of one prompt (for pass@k).")
    ] = None,
    k: Annotated[
        Optional[str],
        typer.Option(
            "--k", help="pass@k and maj@k for these k (comma-separated), over prompts with at least k samples."
        ),
    ] = None,
    grader: Grader = "math",
    grade_timeout: Annotated[
        float, typer.Option("--grade-timeout", min=0.01, help="Seconds per answer before it counts as wrong.")
    ] = 5.0,
    fail_if: Annotated[
        Optional[list[str]],
        typer.Option(
            "--fail-if",
            help="Exit 1 when this holds for any row, e.g. 'valid_rate < 0.95' or 'delta.accuracy < -0.02'. Repeatable.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: an object, or a list of objects with --by or several inputs.")
    ] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="A Markdown table (for $GITHUB_STEP_SUMMARY).")
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one line per group and input, every metric.")] = False,
    as_tsv: Annotated[bool, typer.Option("--tsv", help="The table as tab-separated text, cells as shown.")] = False,
    layout: Annotated[
        Literal["rows", "paper"],
        typer.Option(
            "--layout",
            help="rows: one line per group and input; paper: one row per model, one column per benchmark, cells 'accuracy (length)', an average column (--by BENCHMARK,MODEL).",
        ),
    ] = "rows",
    samples_path: Annotated[
        Optional[str],
        typer.Option(
            "--samples",
            help="Write each sample as graded (input, line, pred, correct, grade_status, …) to this JSONL or Parquet file.",
        ),
    ] = None,
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
    """Aggregate outputs into rates, lengths, accuracy and pass@k; gate CI on them.

    Reads parsed records (from tp parse) or raw outputs, parsed on the fly with the same options as tp parse. Several inputs give one column each and their change against the first.
    """
    from .. import confidence, console, gates, joins, paper_table, presets, report, step_summary, streams, tables
    from .. import stats as stats_lib
    from ..errors import GateFailed, UsageError

    field, gold, id_field = presets.apply(preset, field=field, gold=gold, id=id_field)
    kinds = [
        name for name, on in (("json", as_json), ("markdown", as_markdown), ("csv", as_csv), ("tsv", as_tsv)) if on
    ]
    if len(kinds) > 1:
        raise UsageError("choose one of --json, --markdown, --csv, --tsv")
    kind = kinds[0] if kinds else "table"
    if layout == "paper" and kind == "json":
        raise UsageError("--layout paper is a table: use it alone or with --markdown, --csv or --tsv")
    options = stats_lib.StatsOptions(
        parse=parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field),
        by=tuple(split_list(by)),
        gold=None if gold_file else gold,
        id=id_field,
        ks=tuple(ints(k, "--k")),
        grader=grader,
        timeout=grade_timeout,
        samples=samples_path is not None,
        gold_table=joins.load_gold(gold_file, id_field, gold) if gold_file else None,
    )
    stats_lib.check_options(options)
    names = stats_lib.metric_names(options, tokens=True)  # gates may name token metrics before records show them
    every = names + confidence.names(names)  # with the intervals, for gates and CSV
    checks = [gates.parse_gate(text, every) for text in fail_if or []]
    gates.check_inputs(checks, len(inputs or ["-"]))
    result = stats_lib.run(
        inputs or [], options, progress=not quiet, on_error=on_error, workers=workers, input_format=input_format
    )
    rows, names, every, columns, tokens = result.rows, result.names, result.every, result.columns, result.tokens
    if samples_path is not None:
        stats_lib.write_samples(samples_path, stats_lib.samples(columns, options, result.judged))
    several = len(columns) > 1
    if kind == "markdown":
        table = (
            paper_table.markdown(rows, options.by, several, tokens)
            if layout == "paper"
            else report.render(rows, names, options.by, kind, several)
        )
        sys.stdout.write(step_summary.markdown([c.name for c in columns], table, checks, rows, options.by))
    elif layout == "paper" and kind == "csv":
        sys.stdout.write(paper_table.to_csv(rows, options.by, several, tokens))
    elif layout == "paper":
        tables.show(*paper_table.text_grid(rows, options.by, several, tokens), 1, tsv=kind == "tsv")
    elif kind in ("json", "csv"):
        sys.stdout.write(report.render(rows, every if kind == "csv" else names, options.by, kind, several))
    else:
        report.print_table(rows, names, options.by, several, tsv=kind == "tsv")
    sys.stdout.flush()  # the report before the summary, when both go to one terminal
    if skipped:  # every input's skipped lines in one file
        streams.Summary(skipped=[line for column in columns for line in column.summary.skipped]).write_skipped(skipped)
    if not quiet:
        for column in columns:
            column.summary.report(f"stats {column.name}", verb="counted", skipped_file=skipped)
        if result.judged.timeouts:
            console.warn(
                f"{result.judged.timeouts} answers took longer than --grade-timeout to grade and count as wrong"
            )
    misses = gates.check(checks, rows, options.by)
    if misses:
        raise GateFailed("\n".join(map(str, misses)))
