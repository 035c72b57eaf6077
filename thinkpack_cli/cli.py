"""The ``tp`` command line: options wired to the library's functions, nothing more.

Heavy libraries are imported inside the commands that need them, so ``tp --help``
answers at once.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import EXIT_BUG, EXIT_INTERRUPTED, TpError

app = typer.Typer(
    name="tp",
    help="Work with reasoning blocks (<think>…</think> and its cousins) in training and evaluation data.",
    no_args_is_help=True,
    add_completion=False,
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
            except TpError as e:
                _fail(str(e), e.exit_code)
            except KeyboardInterrupt:
                _fail("interrupted", EXIT_INTERRUPTED)
            except BrokenPipeError:
                # The reader went away (`tp parse … | head`): stop quietly.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0)
            except (typer.Exit, typer.Abort):
                raise
            except Exception as e:
                if os.environ.get("TP_DEBUG") == "1":
                    raise
                _fail(f"internal error: {type(e).__name__}: {e} (run with TP_DEBUG=1 for a traceback)", EXIT_BUG)

        return app.command(name, epilog=epilog)(run)

    return register


def _fail(message: str, code: int):
    from . import console

    console.stderr().print(f"tp: error: {message}", markup=False, highlight=False, style="red")
    raise typer.Exit(code)


def _version(value: bool):
    if value:
        typer.echo(f"tp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
):
    pass


# Options shared by several commands, defined once.
Inputs = Annotated[Optional[list[str]], typer.Argument(help="JSONL or Parquet files; '-' or nothing reads stdin.", show_default=False)]
Output = Annotated[Optional[str], typer.Option("--output", "-o", help="Output file (.jsonl, .jsonl.gz, .parquet); stdout if omitted.")]
OnError = Annotated[str, typer.Option("--on-error", help="On a bad record: 'fail' (exit 2) or 'skip' (count it, go on).")]
Workers = Annotated[Optional[int], typer.Option("--workers", "-j", min=1, help="Worker processes [default: CPU count].")]
InputFormat = Annotated[Optional[str], typer.Option("--input-format", help="jsonl or parquet [default: from the name, else sniffed].")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")]
Field = Annotated[Optional[str], typer.Option("--field", "-f", help="Text field, a name or dotted path (choices.0.message.content) [default: first of response, output, completion, generated_text, text, content].")]
Format = Annotated[str, typer.Option("--format", help="Reasoning format: auto, think, bracket, harmony.")]
OpenTag = Annotated[Optional[str], typer.Option("--open", help="Custom opening delimiter (with --close).")]
CloseTag = Annotated[Optional[str], typer.Option("--close", help="Custom closing delimiter (with --open).")]
Prefixed = Annotated[Optional[bool], typer.Option("--prefixed/--no-prefixed", help="The prompt already opened the block (outputs hold only the close) / it opened nothing [default: infer].", show_default=False)]
Tokenizer = Annotated[Optional[str], typer.Option("--tokenizer", "-t", help="Tokenizer folder or hub name: detects prefixed templates, counts tokens.")]
PromptField = Annotated[str, typer.Option("--prompt-field", help="A record's generation prompt; one ending inside an open block marks that record prefixed.")]


def _parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field):
    from .parse import ParseOptions

    return ParseOptions(field=field, format=format, open_tag=open_tag, close_tag=close_tag,
                        prefixed=prefixed, prompt_field=prompt_field, tokenizer=tokenizer)


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
    """Split raw outputs into [b]reasoning[/b] and [b]answer[/b] and classify each.

    Adds reasoning, answer, status (valid | empty | truncated | missing), reasoning_format and
    reasoning_tag (plus reasoning_tokens and answer_tokens with --tokenizer); every other field
    passes through unchanged. A list of samples gives lists back.
    """
    from . import streams
    from .parse import Parser

    parser = Parser.create(_parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field))
    summary = streams.write_job(inputs or [], parser, output, label="parse", on_error=on_error,
                                workers=workers, input_format=input_format)
    if not quiet:
        summary.report("parse")


def main() -> None:
    app(prog_name="tp")
