"""``tp distill``: options wired to ``distill.run``, nothing more. aiohttp, Jinja and the grader
are imported inside the command."""

from __future__ import annotations

import os
from typing import Annotated, Literal, Optional

import typer

from .app import command
from .options import InputFormat, Inputs, OnError, Quiet

DISTILL_EPILOG = """[b]Examples[/b]

  tp distill qa.jsonl -o traces.jsonl --base-url http://localhost:8000/v1 --model Qwen/QwQ-32B
  tp distill math.jsonl -o solved.jsonl --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --mode solve --n 4 --keep first --price-in 0.55 --price-out 2.19
  tp distill attempts.jsonl -o feedback.jsonl --base-url http://teacher:8000/v1 --model gpt-oss-120b --mode feedback --api-key-env TEACHER_KEY
  tp distill sft.jsonl -o sft_traces.jsonl --base-url http://localhost:8000/v1 --model Qwen/QwQ-32B --id uid --prompt-template my_prompt.jinja --concurrency 64

Rerun the same command after a crash, Ctrl-C or kill: finished records are skipped, failed ones retried.
"""


@command("distill", epilog=DISTILL_EPILOG)
def distill(
    inputs: Inputs = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="JSON Lines file the records are appended to as they finish; rerunning with it resumes.",
            show_default=False,
        ),
    ] = ...,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="The teacher's OpenAI-compatible API, e.g. http://localhost:8000/v1 (vLLM, SGLang) or https://api.deepseek.com/v1.",
            show_default=False,
        ),
    ] = ...,
    model: Annotated[
        str, typer.Option("--model", help="The teacher model's name on that server.", show_default=False)
    ] = ...,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="construct: reasoning toward the record's known answer; solve: the teacher answers alone, graded against the gold answer; feedback: feedback on the record's 'attempt' and a guided solution.",
        ),
    ] = "construct",
    n: Annotated[
        int,
        typer.Option(
            "--n",
            "-n",
            min=1,
            help="Samples per record, at most: solve keeps them as --keep says; construct and feedback stop at the first usable one.",
        ),
    ] = 1,
    keep: Annotated[
        Literal["correct", "first", "all"],
        typer.Option(
            "--keep",
            help="solve: correct (every correct sample), first (stop at the first correct one) or all (every sample, with 'correct' true or false).",
        ),
    ] = "correct",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Requests in flight at once.")] = 32,
    max_retries: Annotated[
        int,
        typer.Option(
            "--max-retries", min=0, help="Retries of a request after a 429, a 5xx, a timeout or a dropped connection."
        ),
    ] = 6,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Seconds a request may take in all.")] = 120.0,
    backoff: Annotated[
        float,
        typer.Option(
            "--backoff",
            min=0.0,
            help="Seconds before the first retry, doubling with each (with jitter, up to a minute); a Retry-After header waits longer.",
        ),
    ] = 1.0,
    max_retry_wait: Annotated[
        float,
        typer.Option(
            "--max-retry-wait",
            min=0.0,
            help="Longest wait a server's Retry-After gets; one asking more is retried after this (said on stderr).",
        ),
    ] = 60.0,
    temperature: Annotated[
        Optional[float], typer.Option("--temperature", min=0.0, help="Sampling temperature (default: the server's).")
    ] = None,
    max_tokens: Annotated[
        Optional[int],
        typer.Option(
            "--max-tokens",
            min=1,
            help="Most tokens per answer (default: the server's); an answer cut off there is no trace.",
        ),
    ] = None,
    prompt_template: Annotated[
        Optional[str],
        typer.Option(
            "--prompt-template",
            help="Jinja file for the user message; it sees record, question, answer (gold) and attempt (default: the mode's own).",
        ),
    ] = None,
    id_field: Annotated[
        Optional[str],
        typer.Option("--id", help="Field that identifies a record across runs (default: a hash of the whole record)."),
    ] = None,
    question_field: Annotated[
        Optional[str],
        typer.Option(
            "--question-field", help="Question field (default: first of question, problem, instruction, prompt)."
        ),
    ] = None,
    gold: Annotated[
        Optional[str],
        typer.Option(
            "--gold",
            help="Known-answer field (default: first of gold, reference, answer, response, output, less the fields the mode writes).",
        ),
    ] = None,
    grader: Annotated[
        Literal["math", "exact"],
        typer.Option("--grader", help="solve: math (Math-Verify) or exact (string equality), as tp stats grades."),
    ] = "math",
    errors: Annotated[
        Optional[str],
        typer.Option(
            "--errors",
            help="Where rejected and failed records go, with the reason (default: OUTPUT's name with .errors.jsonl).",
        ),
    ] = None,
    retry_rejected: Annotated[
        bool,
        typer.Option(
            "--retry-rejected",
            help="Ask again for records an earlier run rejected (default: skip them, as they were paid for).",
        ),
    ] = False,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(
            "--api-key-env", help="Environment variable holding the API key (default: OPENAI_API_KEY, if set)."
        ),
    ] = None,
    price_in: Annotated[
        Optional[float],
        typer.Option("--price-in", min=0.0, help="Dollars per million prompt tokens, for the cost in the summary."),
    ] = None,
    price_out: Annotated[
        Optional[float], typer.Option("--price-out", min=0.0, help="Dollars per million completion tokens.")
    ] = None,
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    quiet: Quiet = False,
):
    """Get reasoning traces for records from a [b]teacher model[/b] behind an OpenAI-compatible API.

    Appends each record with reasoning (solve: also response and correct; feedback: feedback and guided_solution) and a distill field (key, model, tokens) as soon as it is done. The API key is sent to --base-url only and never printed or written, even where the server echoes it. A question must be non-empty text.
    """

    from .. import console
    from .. import distill as distilling
    from ..errors import Incomplete, UsageError

    api_key = os.environ.get(api_key_env or "OPENAI_API_KEY") or None
    if api_key_env and api_key is None:
        raise UsageError(f"--api-key-env {api_key_env}: that environment variable is not set")
    options = distilling.DistillOptions(
        base_url=base_url,
        model=model,
        mode=mode,
        n=n,
        keep=keep,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        backoff=backoff,
        temperature=temperature,
        max_tokens=max_tokens,
        template=prompt_template,
        id_field=id_field,
        question_field=question_field,
        gold_field=gold,
        grader=grader,
        retry_rejected=retry_rejected,
        max_retry_wait=max_retry_wait,
    )
    tally = distilling.Counts()

    def report() -> None:
        if not quiet:
            errors_path = errors or distilling.errors_path(output)
            for line in distilling.summary_lines(tally, output, errors_path, price_in, price_out):
                console.say(line)

    try:
        distilling.run(
            inputs or [],
            options,
            output,
            tally,
            api_key=api_key,
            errors=errors,
            on_error=on_error,
            input_format=input_format,
            show_progress=not quiet,
        )
    except BaseException:
        if tally.todo:  # stopped while asking (Ctrl-C, a refused key): what is done is on disk; say how much
            report()
        raise
    report()
    if tally.failed:
        raise Incomplete(f"{tally.failed} records failed after every retry")
