"""``tp mask``: options wired to ``mask.Masker``, nothing more; ``--show`` prints what trains."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

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

MASK_EPILOG = """[b]Examples[/b]

  tp mask sft.jsonl -o train.parquet --tokenizer ./Qwen3-8B --show 2
  tp mask chats.jsonl -o train.parquet -t ./Qwen3-8B --mask think --train-turns all
  tp mask sft.jsonl -o baseline.parquet -t ./Qwen3-8B --mask none --max-length 4096 --overflow drop
  tp mask sft.jsonl -o train.parquet -t ./Qwen3-8B --template-kwargs '{"enable_thinking": false}'
  tp mask r1_traces.jsonl -o train.parquet -t ./Llama-3.1-8B-Instruct --keep-fields
"""


@command("mask", epilog=MASK_EPILOG)
def mask(
    inputs: Inputs = None,
    output: Output = None,
    tokenizer: TrainingTokenizer = ...,
    mask_parts: Annotated[
        str,
        typer.Option(
            "--mask",
            help="What to keep out of the loss: prompt, think, answer (or response), comma-separated; none trains every token.",
        ),
    ] = "prompt,think",
    train_turns: Annotated[
        Literal["last", "all"], typer.Option("--train-turns", help="Which assistant turns to train: last, or all.")
    ] = "last",
    max_length: Annotated[
        Optional[int], typer.Option("--max-length", min=1, help="Longest record in tokens; see --overflow.")
    ] = None,
    overflow: Annotated[
        Literal["truncate", "drop"],
        typer.Option("--overflow", help="A record over --max-length: truncate, or drop. Counted in the summary."),
    ] = "truncate",
    empty_think: Annotated[
        bool,
        typer.Option(
            "--empty-think/--no-empty-think",
            help="Give trained turns without reasoning an empty, masked think block when masking think, as at inference.",
        ),
    ] = True,
    ignore_index: Annotated[int, typer.Option("--ignore-index", help="Label of tokens kept out of the loss.")] = -100,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Show the first N records on stderr with their trained tokens marked.")
    ] = 0,
    template_kwargs: TemplateKwargs = None,
    instruction_field: InstructionField = None,
    reasoning_field: ReasoningField = None,
    response_field: ResponseField = None,
    id_field: Annotated[str, typer.Option("--id-field", help="Field copied to the output's id column.")] = "id",
    keep_fields: Annotated[
        bool, typer.Option("--keep-fields", help="Also copy the input's other fields (ids, metadata) into the output.")
    ] = False,
    think_tags: ThinkTags = None,
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    workers: Workers = None,
    quiet: Quiet = False,
    skipped: SkippedFile = None,
):
    """Tokenize records with a chat template and label which tokens [b]train[/b]: reasoning in context, out of the loss.

    Writes input_ids, labels (--ignore-index where masked), attention_mask, id and an audit per record: prompt_tokens, think_tokens, answer_tokens, trained_tokens, truncated. Parquet columns are list<int32>, ready for transformers' Trainer or TRL's SFTTrainer.
    """
    from .. import console, streams
    from .. import mask as masking

    template = load_template(tokenizer, template_kwargs, think_tags)
    options = masking.MaskOptions(
        mask=masking.parse_mask(mask_parts),
        train_all=train_turns == "all",
        max_length=max_length,
        overflow=overflow,
        empty_think=empty_think,
        ignore_index=ignore_index,
        fields=record_fields(instruction_field, reasoning_field, response_field),
        id_field=id_field,
        keep_fields=keep_fields,
    )
    totals = masking.MaskTotals(show)
    summary = streams.write_job(
        inputs or [],
        masking.MaskBatch(masking.Masker(template, options), show),
        output,
        types=masking.column_types(),
        fold=totals.fold,
        label="mask",
        on_error=on_error,
        workers=workers,
        input_format=input_format,
    )
    tally, views = totals.tally, totals.views
    for number, (record_id, pieces) in enumerate(views, 1):
        _print_view(console.stderr(), f"record {number}" + ("" if record_id is None else f" (id {record_id})"), pieces)
    summary.finish("mask", skipped, quiet)
    if not quiet:
        for line in masking.describe(tally, options, template):
            console.say(f"  {line}")


_STYLES = {"prompt": "dim", "think": "dim italic magenta", "answer": "dim"}


def _print_view(out, title: str, pieces: list[tuple[str, str, bool]]) -> None:
    """A record as a person checks it before spending GPU hours: trained tokens in green (or
    between ⟦ ⟧ without colour), alternating shades so token boundaries show."""
    from rich.text import Text

    counts = {part: sum(1 for _, p, _ in pieces if p == part) for part in _STYLES}
    trained = sum(1 for *_, t in pieces if t)
    out.rule(
        f"{title}: {len(pieces)} tokens, {trained} trained · "
        + " · ".join(f"{part} {n}" for part, n in counts.items()),
        style="dim",
    )
    text, colour, shade, was_trained = Text(), not out.no_color, 0, False
    for piece, part, is_trained in pieces:
        if not colour and is_trained != was_trained:
            text.append("⟦" if is_trained else "⟧")
        shade ^= 1
        text.append(piece, style=("bold green" if shade else "bold bright_green") if is_trained else _STYLES[part])
        was_trained = is_trained
    if not colour and was_trained:
        text.append("⟧")
    out.print(text, markup=False, highlight=False)
