"""``tp report``, ``tp head`` and ``tp sample``: options wired to ``html_report`` and ``browse``, nothing more.

cli.py registers them with its ``command()`` decorator.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

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
    Tokenizer,
    Workers,
)

REPORT_EPILOG = """[b]Examples[/b]

  tp report baseline.jsonl candidate.jsonl --id problem_id -o report.html
  tp report details_*.parquet --preset lighteval --by doc.task_name -o lighteval.html
"""

Gold = Annotated[Optional[str], typer.Option("--gold", help="Gold-answer field or path (default: gold or reference, when present).")]
Id = Annotated[Optional[str], typer.Option("--id", help="Field identifying a prompt across runs and samples (pairs runs; without it, line numbers do).")]


def report(
    inputs: Inputs = None,
    output: Annotated[str, typer.Option("--output", "-o", help="The HTML file to write.")] = "report.html",
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: the input names).")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="Group the headline table by these fields (comma-separated).")] = None,
    gold: Gold = None,
    gold_file: Annotated[Optional[str], typer.Option("--gold-file", help="Gold answers in another file, joined by --id (as tp stats).")] = None,
    id_field: Id = None,
    grader: Grader = "math",
    grade_timeout: Annotated[float, typer.Option("--grade-timeout", min=0.01, help="Seconds per answer before it counts as wrong.")] = 5.0,
    preset: Preset = None,
    field: Field = None,
    format: Format = "auto",
    open_tag: OpenTag = None,
    close_tag: CloseTag = None,
    prefixed: Prefixed = None,
    tokenizer: Tokenizer = None,
    prompt_field: PromptField = "prompt",
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    workers: Workers = None,
    quiet: Quiet = False,
):
    """Write one self-contained HTML page comparing runs: headline with intervals, accuracy by reasoning length, length histograms per status, think rate (AutoThink), per-problem wins and flips, example records.

    Each input is one run. The page needs no network to open: charts are inline SVG.
    """
    import os
    import tempfile

    from . import console, html_report, joins, presets
    from . import stats as stats_lib
    from .errors import UsageError
    from .parse import ParseOptions, Parser

    if not inputs or "-" in inputs:
        raise UsageError("tp report reads files (each input is read twice), not stdin")
    field, gold, id_field = presets.apply(preset, field=field, gold=gold, id=id_field)
    options = stats_lib.StatsOptions(
        parse=ParseOptions(field=field, format=format, open_tag=open_tag, close_tag=close_tag, prefixed=prefixed,
                           prompt_field=prompt_field, tokenizer=tokenizer),
        by=tuple(p.strip() for p in (by or "").split(",") if p.strip()), gold=None if gold_file else gold, id=id_field,
        grader=grader, timeout=grade_timeout, samples=True,
        gold_table=joins.load_gold(gold_file, id_field, gold) if gold_file else None,
    )
    stats_lib.check_options(options)
    parser = Parser.create(options.parse)
    rows, runs = html_report.collect(inputs, options, parser, on_error=on_error, workers=workers,
                                     input_format=input_format)
    page = html_report.render(rows, runs, options.by, title or f"tp report: {', '.join(inputs)}")
    folder = os.path.dirname(os.path.abspath(output))
    fd, temp = tempfile.mkstemp(prefix=".tp-report-", suffix=".html", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the page from a web server or a colleague
    os.replace(temp, output)
    if not quiet:
        console.say(f"tp report: {sum(len(r.facts) for r in runs):,} samples from {len(runs)} runs → {output}")


HEAD_EPILOG = """[b]Examples[/b]

  tp head outputs.jsonl --status truncated
  tp head parsed.jsonl --wrong --where 'model == "Qwen2.5-3B-Instruct"' -n 3
  tp head details.parquet --preset lighteval --wrong --max-chars 0 | less -R
"""
SAMPLE_EPILOG = """[b]Examples[/b]

  tp sample outputs.jsonl -n 5 --seed 1
  tp sample outputs.jsonl --status missing --where 'dataset in ["dice", "sokoban"]' --json
"""

Count = Annotated[int, typer.Option("-n", "--count", min=1, help="How many samples to show.")]
Status = Annotated[Optional[Literal["valid", "empty", "truncated", "missing"]], typer.Option("--status", help="Only samples with this status.", show_default=False)]
Wrong = Annotated[bool, typer.Option("--wrong", help="Only samples graded wrong (they need a gold answer).")]
Where = Annotated[Optional[str], typer.Option("--where", help="""Only records where this holds, e.g. 'model == "x" and step >= 100' (fields are paths; == != < <= > >= in, and, or, not).""")]
MaxChars = Annotated[int, typer.Option("--max-chars", min=0, help="Cut reasoning and answer to this many characters (0: show all).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the matching records as JSON Lines instead (each once).")]


def head(inputs: Inputs = None, count: Count = 10, status: Status = None, wrong: Wrong = False, where: Where = None,
         gold: Gold = None, grader: Grader = "math", max_chars: MaxChars = 800, as_json: AsJson = False,
         preset: Preset = None, field: Field = None, format: Format = "auto", prefixed: Prefixed = None,
         input_format: InputFormat = None):
    """Show the first samples that pass the filters: where each came from, its status, the reasoning (dimmed), the answer, the gold and the verdict."""
    _browse(inputs, count, None, status, wrong, where, gold, grader, max_chars, as_json, preset, field, format,
            prefixed, input_format)


def sample(inputs: Inputs = None, count: Count = 10, seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed shows the same samples.")] = 0,
           status: Status = None, wrong: Wrong = False, where: Where = None, gold: Gold = None, grader: Grader = "math",
           max_chars: MaxChars = 800, as_json: AsJson = False, preset: Preset = None, field: Field = None,
           format: Format = "auto", prefixed: Prefixed = None, input_format: InputFormat = None):
    """Show a uniform random sample (seeded) of the samples that pass the filters, read readably as tp head does."""
    _browse(inputs, count, seed, status, wrong, where, gold, grader, max_chars, as_json, preset, field, format,
            prefixed, input_format)


def _browse(inputs, count, seed, status, wrong, where, gold, grader_name, max_chars, as_json, preset, field, format,
            prefixed, input_format):
    import itertools
    import sys

    from . import browse, console, presets
    from .grading import GRADERS, Grader
    from .parse import ParseOptions, Parser

    field, gold, _ = presets.apply(preset, field=field, gold=gold)
    if grader_name not in (*GRADERS, "none"):
        from .errors import UsageError

        raise UsageError(f"--grader must be one of {', '.join(GRADERS)}, none")
    parser = Parser(ParseOptions(field=field, format=format, prefixed=prefixed))
    condition = browse.Where(where) if where else None
    candidates = itertools.chain.from_iterable(
        browse.samples("<stdin>" if path == "-" else path, browse.read(path, input_format), parser, gold, status, condition)
        for path in inputs or ["-"])
    grader = None if grader_name == "none" else Grader(grader_name, workers=1)
    try:
        chosen = browse.pick(candidates, count, grader, wrong, seed)
    finally:
        if grader is not None:
            grader.close()
    if seed is not None:
        chosen.sort(key=lambda s: (s.source, s.line, s.index or 0))
    if as_json:
        from . import streams

        records = list({id(s.record): s.record for s in chosen}.values())
        sys.stdout.buffer.write(streams.encode_jsonl(records))
        return
    out = console.stdout()
    for s in chosen:
        out.print(browse.render(s, max_chars), soft_wrap=True)
