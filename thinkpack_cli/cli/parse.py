"""``tp parse``: options wired to ``parse.Parser`` and the streaming layer, nothing more."""

from __future__ import annotations

from .app import command
from .options import (
    CloseTag,
    Field,
    Format,
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
    SplitReasoning,
    Tokenizer,
    Workers,
    parse_options,
)


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
    from .. import presets, streams
    from ..parse import Parser

    field = presets.apply(preset, field=field)[0]
    parser = Parser.create(
        parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field)
    )
    summary = streams.write_job(
        inputs or [], parser, output, label="parse", on_error=on_error, workers=workers, input_format=input_format
    )
    summary.finish("parse", skipped, quiet)
