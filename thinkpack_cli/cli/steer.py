"""``tp steer``: options wired to ``steer.Steerer``, nothing more."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import command
from .options import (
    InputFormat,
    Inputs,
    InstructionField,
    OnError,
    Output,
    Quiet,
    ReasoningField,
    ResponseField,
    SkippedFile,
    TemplateKwargs,
    ThinkTags,
    TrainingTokenizer,
    Workers,
    load_template,
    record_fields,
)

STEER_EPILOG = """[b]Examples[/b]

  tp steer prompts.jsonl -o steered.jsonl --tokenizer ./DeepSeek-R1-Distill-Qwen-7B --prefix steps
  tp steer prompts.jsonl -t ./Qwen3-8B --prefix no-think --token-ids > prompts_nothink.jsonl
  tp steer prompts.jsonl -t ./gpt-oss-20b --template-kwargs '{"reasoning_effort": "high"}' --reasoning open
  tp steer prompts.jsonl -t ./QwQ-32B --reasoning none --response-prefix 'The answer is'
"""


@command("steer", epilog=STEER_EPILOG)
def steer(
    inputs: Inputs = None,
    output: Output = None,
    tokenizer: TrainingTokenizer = ...,
    reasoning: Annotated[
        Optional[str],
        typer.Option(
            "--reasoning",
            help="open: end inside an open reasoning block; none: open none (remove a prefixed template's); native: the template's text as is. (default: open with --prefix, else native)",
        ),
    ] = None,
    prefix: Annotated[
        Optional[str],
        typer.Option(
            "--prefix",
            help="Text the model continues: brief, steps, concise, no-think (a closed block), ellipsis, or any text.",
        ),
    ] = None,
    close: Annotated[bool, typer.Option("--close", help="Close the reasoning block after the prefix.")] = False,
    response_prefix: Annotated[
        Optional[str],
        typer.Option("--response-prefix", help="Text that starts the answer, after the (closed) reasoning block."),
    ] = None,
    token_ids: Annotated[bool, typer.Option("--token-ids", help="Also write prompt_token_ids.")] = False,
    template_kwargs: TemplateKwargs = None,
    think_tags: ThinkTags = None,
    instruction_field: InstructionField = None,
    reasoning_field: ReasoningField = None,
    response_field: ResponseField = None,
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    workers: Workers = None,
    quiet: Quiet = False,
    skipped: SkippedFile = None,
):
    """Build inference [b]prompts[/b] that steer a model into or out of reasoning, in its own delimiters.

    Adds prompt (and prompt_token_ids with --token-ids): the chat template's generation prompt for the record's messages (a trailing assistant answer left out), steered as the options say. Every other field passes through unchanged.
    """
    from .. import streams
    from ..steer import Steerer, SteerOptions

    options = SteerOptions(
        reasoning=reasoning,
        prefix=prefix,
        close=close,
        response_prefix=response_prefix,
        token_ids=token_ids,
        fields=record_fields(instruction_field, reasoning_field, response_field),
    )
    steerer = Steerer(load_template(tokenizer, template_kwargs, think_tags), options)
    summary = streams.write_job(
        inputs or [], steerer, output, label="steer", on_error=on_error, workers=workers, input_format=input_format
    )
    summary.finish("steer", skipped, quiet)
