"""The ``tp`` command line: options wired to the library's functions, nothing more.

Heavy libraries are imported inside the commands that need them, so ``tp --help``
answers at once.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Literal, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from . import __version__, cli_distill, cli_generate, cli_report, cli_training
from .errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, OutputError, TpError
from .options import (
    CloseTag,
    Field,
    Format,
    Grader,
    InputFormat,
    Inputs,
    OnError,
    OpenTag,
    Output,
    Prefixed,
    Preset,
    PromptField,
    Quiet,
    SkippedFile,
    Tokenizer,
    Workers,
)


class _OneLineErrors(TyperGroup):
    """Click's own usage errors (an unknown option, a value not among the choices) as one line on
    stderr and exit 2, like tp's, instead of a box with the usage; in the CLI and under CliRunner alike."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except TyperException as e:
            context = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError":  # `tp` alone: its help, as a usage error
                context.get_help()
            else:
                _say_error(e.format_message() + (f" (see '{context.command_path} --help')" if context else ""))
            sys.exit(getattr(e, "exit_code", EXIT_USAGE))
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="tp",
    cls=_OneLineErrors,
    help="Work with reasoning blocks (<think>…</think> and its cousins) in training and evaluation data.",
    no_args_is_help=True,
    add_completion=True,  # tp --install-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def command(name: str, epilog: str):
    """Register a command whose errors become one line on stderr and an exit code."""

    def register(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except OutputError as e:
                _drop_stdout()
                _fail(str(e), e.exit_code, e.label)
            except TpError as e:
                _fail(str(e), e.exit_code, e.label)
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM and SIGHUP as errors.Interrupted
                _fail(f"interrupted by {e}" if str(e) else "interrupted", getattr(e, "exit_code", EXIT_INTERRUPTED))
            except BrokenPipeError:
                # The reader went away (`tp parse … | head`): stop quietly.
                _drop_stdout()
                raise typer.Exit(0) from None
            except (typer.Exit, typer.Abort):
                raise
            except OSError as e:  # the machine, not tp: a full disk, a read-only folder, a closed stream
                _drop_stdout()
                where = f"{e.filename}: " if e.filename else ""
                _fail(f"{where}{e.strerror or e}", EXIT_USAGE)
            except Exception as e:
                if os.environ.get("TP_DEBUG") == "1":
                    raise
                _fail(f"internal error: {type(e).__name__}: {e} (run with TP_DEBUG=1 for a traceback)", EXIT_BUG)

        return app.command(name, epilog=epilog)(run)

    return register


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered for a stream that failed (a closed
    pipe, a full disk) does not fail again when Python flushes it at exit."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _fail(message: str, code: int, label: str = "error"):
    _say_error(message, label)
    raise typer.Exit(code)


def _say_error(message: str, label: str = "error") -> None:
    from . import console

    try:
        for line in message.splitlines() or [""]:
            console.stderr().print(f"tp: {label}: {console.printable(line)}", markup=False, highlight=False, style="red")
    except OSError:
        pass  # stderr itself is gone: the exit code still tells


def _version(value: bool):
    if value:
        typer.echo(f"tp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
):
    pass


# tp parse and tp stats find reasoning a server split off by the same rule (fields.REASONING_FIELDS).
SplitReasoning = Annotated[Optional[str], typer.Option("--reasoning-field", help="The field beside the text that holds reasoning a server split off (default: reasoning_content, reasoning or thinking; two that differ are an error).")]


def _parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field=None):
    from .parse import ParseOptions

    return ParseOptions(field=field, format=format, open_tag=open_tag, close_tag=close_tag,
                        prefixed=prefixed, prompt_field=prompt_field, tokenizer=tokenizer,
                        reasoning_field=reasoning_field)


@command(
    "parse",
    epilog="""[b]Examples[/b]

  tp parse outputs.jsonl -o parsed.jsonl
  tp parse runs/*.jsonl --field choices.0.message.content --on-error skip > parsed.jsonl
  tp parse r1_outputs.jsonl --tokenizer ./DeepSeek-R1-Distill-Qwen-7B -o parsed.parquet
  cat outputs.jsonl | tp parse --open '<reflect>' --close '</reflect>' | tp stats -
""",
)
def parse(
    inputs: Inputs = None,
    output: Output = None,
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
    """Split raw outputs into [b]reasoning[/b] and [b]answer[/b] and classify each.

    Adds reasoning, answer, status (valid | empty | truncated | missing), reasoning_format and reasoning_tag (plus reasoning_tokens and answer_tokens with --tokenizer); every other field passes through unchanged. A list of samples gives lists back.
    """
    from . import presets, streams
    from .parse import Parser

    field = presets.apply(preset, field=field)[0]
    parser = Parser.create(_parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field))
    summary = streams.write_job(inputs or [], parser, output, label="parse", on_error=on_error,
                                workers=workers, input_format=input_format)
    summary.finish("parse", skipped, quiet)


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
    by: Annotated[Optional[str], typer.Option("--by", help="Group by these fields (comma-separated, dotted paths allowed).")] = None,
    gold: Annotated[Optional[str], typer.Option("--gold", help="Gold-answer field or dotted path (default: gold or reference, when present). A list is any-of; a GSM8K solution grades against its '#### N'.")] = None,
    gold_file: Annotated[Optional[str], typer.Option("--gold-file", help="Gold answers in another file (JSONL or Parquet), joined by --id; the gold field is --gold or the first of gold, reference, answer, expected_answer.")] = None,
    id_field: Annotated[Optional[str], typer.Option("--id", help="Records sharing this field are samples of one prompt (for pass@k).")] = None,
    k: Annotated[Optional[str], typer.Option("--k", help="pass@k and maj@k for these k (comma-separated), over prompts with at least k samples.")] = None,
    grader: Grader = "math",
    grade_timeout: Annotated[float, typer.Option("--grade-timeout", min=0.01, help="Seconds per answer before it counts as wrong.")] = 5.0,
    fail_if: Annotated[Optional[list[str]], typer.Option("--fail-if", help="Exit 1 when this holds for any row, e.g. 'valid_rate < 0.95' or 'delta.accuracy < -0.02'. Repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON: an object, or a list of objects with --by or several inputs.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table (for $GITHUB_STEP_SUMMARY).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one line per group and input, every metric.")] = False,
    as_tsv: Annotated[bool, typer.Option("--tsv", help="The table as tab-separated text, cells as shown.")] = False,
    layout: Annotated[Literal["rows", "paper"], typer.Option("--layout", help="rows: one line per group and input; paper: one row per model, one column per benchmark, cells 'accuracy (length)', an average column (--by BENCHMARK,MODEL).")] = "rows",
    samples_path: Annotated[Optional[str], typer.Option("--samples", help="Write each sample as graded (input, line, pred, correct, grade_status, …) to this JSONL or Parquet file.")] = None,
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
):
    """Aggregate outputs into rates, lengths, accuracy and pass@k; gate CI on them.

    Reads parsed records (from tp parse) or raw outputs, parsed on the fly with the same options as tp parse. Several inputs give one column each and their change against the first.
    """
    from . import confidence, console, gates, joins, paper_table, presets, report, step_summary, tables
    from . import stats as stats_lib
    from .errors import GateFailed, UsageError

    field, gold, id_field = presets.apply(preset, field=field, gold=gold, id=id_field)
    kinds = [name for name, on in (("json", as_json), ("markdown", as_markdown), ("csv", as_csv), ("tsv", as_tsv)) if on]
    if len(kinds) > 1:
        raise UsageError("choose one of --json, --markdown, --csv, --tsv")
    kind = kinds[0] if kinds else "table"
    if layout == "paper" and kind == "json":
        raise UsageError("--layout paper is a table: use it alone or with --markdown, --csv or --tsv")
    options = stats_lib.StatsOptions(
        parse=_parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field),
        by=tuple(_split_list(by)), gold=None if gold_file else gold, id=id_field, ks=tuple(_ints(k, "--k")), grader=grader, timeout=grade_timeout,
        samples=samples_path is not None,
        gold_table=joins.load_gold(gold_file, id_field, gold) if gold_file else None,
    )
    stats_lib.check_options(options)
    names = stats_lib.metric_names(options, tokens=True)  # gates may name token metrics before records show them
    every = names + confidence.names(names)  # with the intervals, for gates and CSV
    checks = [gates.parse_gate(text, every) for text in fail_if or []]
    gates.check_inputs(checks, len(inputs or ["-"]))
    result = stats_lib.run(inputs or [], options, progress=not quiet, on_error=on_error, workers=workers,
                           input_format=input_format)
    rows, names, every, columns, tokens = result.rows, result.names, result.every, result.columns, result.tokens
    if samples_path is not None:
        stats_lib.write_samples(samples_path, stats_lib.samples(columns, options, result.judged))
    several = len(columns) > 1
    if kind == "markdown":
        table = (paper_table.markdown(rows, options.by, several, tokens) if layout == "paper"
                 else report.render(rows, names, options.by, kind, several))
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
    if not quiet:
        for column in columns:
            column.summary.report(f"stats {column.name}", verb="counted")
        if result.judged.timeouts:
            console.warn(f"{result.judged.timeouts} answers took longer than --grade-timeout to grade and count as wrong")
    misses = gates.check(checks, rows, options.by)
    if misses:
        raise GateFailed("\n".join(map(str, misses)))


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _ints(text: str | None, option: str) -> list[int]:
    from .errors import UsageError

    try:
        return [int(part) for part in _split_list(text)]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated integers, e.g. 1,8,16") from None


command("mask", epilog=cli_training.MASK_EPILOG)(cli_training.mask)
command("steer", epilog=cli_training.STEER_EPILOG)(cli_training.steer)
command("distill", epilog=cli_distill.DISTILL_EPILOG)(cli_distill.distill)
command("generate", epilog=cli_generate.GENERATE_EPILOG)(cli_generate.generate)
command("report", epilog=cli_report.REPORT_EPILOG)(cli_report.report)
command("head", epilog=cli_report.HEAD_EPILOG)(cli_report.head)
command("sample", epilog=cli_report.SAMPLE_EPILOG)(cli_report.sample)


def main() -> None:
    app(prog_name="tp")
