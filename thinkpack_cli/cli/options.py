"""Options shared by several commands, defined once so every command spells them alike."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from ..formats import FORMATS
from ..presets import NAMES as PRESET_NAMES

Inputs = Annotated[
    Optional[list[str]], typer.Argument(help="JSONL or Parquet files; '-' or nothing reads stdin.", show_default=False)
]
Output = Annotated[
    Optional[str], typer.Option("--output", "-o", help="Output file (.jsonl, .jsonl.gz, .parquet); stdout if omitted.")
]
OnError = Annotated[
    Literal["fail", "skip"],
    typer.Option("--on-error", help="On a bad record: 'fail' (exit 2) or 'skip' (count it, go on)."),
]
Workers = Annotated[
    Optional[int], typer.Option("--workers", "-j", min=1, help="Worker processes (default: CPU count).")
]
Grader = Annotated[
    Literal["math", "exact", "none"],
    typer.Option("--grader", help="math (Math-Verify), exact (string equality) or none (no grading)."),
]
InputFormat = Annotated[
    Optional[Literal["jsonl", "parquet", "arrow"]],
    typer.Option(
        "--input-format",
        help="jsonl, parquet or arrow (default: from the name, else sniffed; a folder is a datasets save_to_disk folder).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")]
SkippedFile = Annotated[
    Optional[str],
    typer.Option(
        "--skipped",
        help="With --on-error skip: write every skipped line (source, line, reason) to this JSONL file; the summary shows the first 20.",
    ),
]
Field = Annotated[
    Optional[str],
    typer.Option(
        "--field",
        "-f",
        help="Text field, a name or dotted path (choices.0.message.content) (default: first of response, output, completion, generated_text, text, content).",
    ),
]
Format = Annotated[
    Literal[("auto", *FORMATS)],
    typer.Option("--format", help="Reasoning format (auto: whichever delimiter comes first)."),
]
OpenTag = Annotated[Optional[str], typer.Option("--open", help="Custom opening delimiter (with --close).")]
CloseTag = Annotated[Optional[str], typer.Option("--close", help="Custom closing delimiter (with --open).")]
Prefixed = Annotated[
    Optional[bool],
    typer.Option(
        "--prefixed/--no-prefixed",
        help="The prompt already opened the block (outputs hold only the close) / it opened nothing (default: infer).",
        show_default=False,
    ),
]
Tokenizer = Annotated[
    Optional[str],
    typer.Option("--tokenizer", "-t", help="Tokenizer folder or hub name: detects prefixed templates, counts tokens."),
]
PromptField = Annotated[
    str,
    typer.Option(
        "--prompt-field",
        help="A record's generation prompt; one ending inside an open block marks that record prefixed.",
    ),
]
Preset = Annotated[
    Optional[Literal[PRESET_NAMES]],
    typer.Option(
        "--preset",
        help="Read another tool's files: sets --field, --gold and --id for lm-eval --log_samples, lighteval details, OpenAI batch output, vLLM RequestOutput dumps or NeMo-Skills output (options given win).",
        show_default=False,
    ),
]
TrainingTokenizer = Annotated[
    str,
    typer.Option(
        "--tokenizer",
        "-t",
        help="Tokenizer folder (or hub name, online) whose chat template renders the records.",
        show_default=False,
    ),
]
TemplateKwargs = Annotated[
    Optional[str],
    typer.Option(
        "--template-kwargs",
        help="""JSON object passed to the chat template, e.g. '{"enable_thinking": false}' or '{"reasoning_effort": "high"}'.""",
    ),
]
InstructionField = Annotated[
    Optional[str],
    typer.Option(
        "--instruction-field",
        help="Instruction field (default: first of instruction, prompt, question); records with 'messages' are chats.",
    ),
]
ReasoningField = Annotated[
    Optional[str],
    typer.Option(
        "--reasoning-field",
        help="Reasoning field (default: first of reasoning, reasoning_content, thinking; else inline in the response).",
    ),
]
ResponseField = Annotated[
    Optional[str],
    typer.Option("--response-field", help="Response field (default: first of response, output, completion, answer)."),
]

# tp parse and tp stats find reasoning a server split off by the same rule (fields.REASONING_FIELDS).
SplitReasoning = Annotated[
    Optional[str],
    typer.Option(
        "--reasoning-field",
        help="The field beside the text that holds reasoning a server split off (default: reasoning_content, reasoning or thinking; two that differ are an error).",
    ),
]

ThinkTags = Annotated[
    Optional[str],
    typer.Option(
        "--think-tags",
        help="OPEN,CLOSE: the tags reasoning is written in on a template with no reasoning style of its own (Llama-3.1, Gemma-3). (default: <think>,</think>)",
    ),
]

Gold = Annotated[
    Optional[str], typer.Option("--gold", help="Gold-answer field or path (default: gold or reference, when present).")
]

Id = Annotated[
    Optional[str],
    typer.Option(
        "--id", help="Field identifying a prompt across runs and samples (pairs runs; without it, line numbers do)."
    ),
]


def parse_template_kwargs(text: str | None) -> dict:
    """``--template-kwargs`` as a dict: a JSON object, or a usage error saying what is wrong."""
    import orjson

    from ..errors import UsageError

    try:
        kwargs = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError as e:
        raise UsageError(f"--template-kwargs is not valid JSON ({e})") from None
    if not isinstance(kwargs, dict):
        raise UsageError("--template-kwargs must be a JSON object, e.g. '{\"enable_thinking\": false}'")
    return kwargs


def parse_options(field, format, open_tag, close_tag, prefixed, tokenizer, prompt_field, reasoning_field=None):
    from ..parse import ParseOptions

    return ParseOptions(
        field=field,
        format=format,
        open_tag=open_tag,
        close_tag=close_tag,
        prefixed=prefixed,
        prompt_field=prompt_field,
        tokenizer=tokenizer,
        reasoning_field=reasoning_field,
    )


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def ints(text: str | None, option: str) -> list[int]:
    from ..errors import UsageError

    try:
        return [int(part) for part in split_list(text)]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated integers, e.g. 1,8,16") from None


def load_template(tokenizer, kwargs: str | None, think_tags: str | None = None):
    """The learned template of ``tokenizer``: a path or hub name, or a tokenizer already loaded (an engine's)."""
    from .. import tokenizer as tokenizers
    from ..detect import detect
    from ..errors import UsageError

    tags = None
    if think_tags is not None:
        tags = tuple(t.strip() for t in think_tags.split(","))
        if len(tags) != 2 or not all(tags):
            raise UsageError(f"--think-tags takes OPEN,CLOSE (e.g. '<reasoning>,</reasoning>'); got {think_tags!r}")
    loaded = tokenizers.load(tokenizer) if isinstance(tokenizer, str) else tokenizer
    return detect(loaded, parse_template_kwargs(kwargs), tags)


def record_fields(instruction: str | None, reasoning: str | None, response: str | None):
    from ..records import Fields

    return Fields(instruction=instruction, reasoning=reasoning, response=response)
