"""``tp head`` and ``tp sample``: options wired to ``browse``, nothing more."""

from __future__ import annotations

import sys
from typing import Annotated, Literal, Optional

import typer

from .app import command
from .options import Field, Format, Gold, Grader, InputFormat, Inputs, Prefixed, Preset

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


Status = Annotated[
    Optional[Literal["valid", "empty", "truncated", "missing"]],
    typer.Option("--status", help="Only samples with this status.", show_default=False),
]


Wrong = Annotated[bool, typer.Option("--wrong", help="Only samples graded wrong (they need a gold answer).")]


Where = Annotated[
    Optional[str],
    typer.Option(
        "--where",
        help="""Only records where this holds, e.g. 'model == "x" and step >= 100' (fields are paths; == != < <= > >= in, and, or, not).""",
    ),
]


MaxChars = Annotated[
    int, typer.Option("--max-chars", min=0, help="Cut reasoning and answer to this many characters (0: show all).")
]


AsJson = Annotated[bool, typer.Option("--json", help="Print the matching records as JSON Lines instead (each once).")]


@command("head", epilog=HEAD_EPILOG)
def head(
    inputs: Inputs = None,
    count: Count = 10,
    status: Status = None,
    wrong: Wrong = False,
    where: Where = None,
    gold: Gold = None,
    grader: Grader = "math",
    max_chars: MaxChars = 800,
    as_json: AsJson = False,
    preset: Preset = None,
    field: Field = None,
    format: Format = "auto",
    prefixed: Prefixed = None,
    input_format: InputFormat = None,
):
    """Show the first samples that pass the filters: where each came from, its status, the reasoning (dimmed), the answer, the gold and the verdict."""
    _browse(
        inputs,
        count,
        None,
        status,
        wrong,
        where,
        gold,
        grader,
        max_chars,
        as_json,
        preset,
        field,
        format,
        prefixed,
        input_format,
    )


@command("sample", epilog=SAMPLE_EPILOG)
def sample(
    inputs: Inputs = None,
    count: Count = 10,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed shows the same samples.")] = 0,
    status: Status = None,
    wrong: Wrong = False,
    where: Where = None,
    gold: Gold = None,
    grader: Grader = "math",
    max_chars: MaxChars = 800,
    as_json: AsJson = False,
    preset: Preset = None,
    field: Field = None,
    format: Format = "auto",
    prefixed: Prefixed = None,
    input_format: InputFormat = None,
):
    """Show a uniform random sample (seeded) of the samples that pass the filters, read readably as tp head does."""
    _browse(
        inputs,
        count,
        seed,
        status,
        wrong,
        where,
        gold,
        grader,
        max_chars,
        as_json,
        preset,
        field,
        format,
        prefixed,
        input_format,
    )


def _browse(
    inputs,
    count,
    seed,
    status,
    wrong,
    where,
    gold,
    grader_name,
    max_chars,
    as_json,
    preset,
    field,
    format,
    prefixed,
    input_format,
):
    import itertools

    from .. import browse, console, presets
    from ..grading import GRADERS, Grader
    from ..parse import ParseOptions, Parser

    field, gold, _ = presets.apply(preset, field=field, gold=gold)
    if grader_name not in (*GRADERS, "none"):
        from ..errors import UsageError

        raise UsageError(f"--grader must be one of {', '.join(GRADERS)}, none")
    parser = Parser(ParseOptions(field=field, format=format, prefixed=prefixed))
    condition = browse.Where(where) if where else None
    candidates = itertools.chain.from_iterable(
        browse.samples(
            "<stdin>" if path == "-" else path, browse.read(path, input_format), parser, gold, status, condition
        )
        for path in inputs or ["-"]
    )
    grader = None if grader_name == "none" else Grader(grader_name, workers=1)
    try:
        chosen = browse.pick(candidates, count, grader, wrong, seed)
    finally:
        if grader is not None:
            grader.close()
    if seed is not None:
        chosen.sort(key=lambda s: (s.source, s.line, s.index or 0))
    if as_json:
        from .. import streams

        records = list({id(s.record): s.record for s in chosen}.values())
        sys.stdout.buffer.write(streams.encode_jsonl(records))
        return
    out = console.stdout()
    for s in chosen:
        out.print(browse.render(s, max_chars), soft_wrap=True)
