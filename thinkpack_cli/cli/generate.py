"""``tp generate``: options wired to ``generate.Generator``, nothing more. torch, vLLM and the engine
are imported inside the command, by the backend it names."""

from __future__ import annotations

import os
from typing import Annotated, Literal, Optional

import typer

from .app import command
from .options import (
    InputFormat,
    Inputs,
    OnError,
    Output,
    Quiet,
    SkippedFile,
    TemplateKwargs,
    ThinkTags,
    load_template,
)

GENERATE_EPILOG = """[b]Examples[/b]

  tp steer qa.jsonl -t Qwen/Qwen3-8B --prefix steps | tp generate --model Qwen/Qwen3-8B | tp stats -
  tp generate qa.jsonl -o out.jsonl --model Qwen/Qwen3-8B --adapter ./answer-lora --hybrid --max-think-tokens 2048
  tp generate qa.jsonl -o out.jsonl --model Qwen/Qwen3-8B --min-think-tokens 512 --max-waits 2 --n 4 --temperature 0.6 --seed 0
  tp generate qa.jsonl -o out.jsonl --backend openai --base-url http://localhost:8000/v1 --model base --adapter answer-lora --hybrid -t Qwen/Qwen3-8B
  tp generate qa.jsonl -o out.jsonl --backend openai --base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 --model base -t Qwen/Qwen3-8B

A hybrid run: the base model writes the reasoning, the adapter the answer (vLLM serves both with --enable-lora --lora-modules answer-lora=PATH).
"""


@command("generate", epilog=GENERATE_EPILOG)
def generate(
    inputs: Inputs = None,
    output: Output = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model folder or hub name (openai: the base model's name on the server).",
            show_default=False,
        ),
    ] = ...,
    adapter: Annotated[
        Optional[str],
        typer.Option(
            "--adapter",
            help="LoRA adapter folder (openai: its name on the server); used in both phases unless --hybrid.",
        ),
    ] = None,
    hybrid: Annotated[
        bool, typer.Option("--hybrid", help="The base model writes the reasoning, the adapter the answer.")
    ] = False,
    backend: Annotated[
        Optional[Literal["vllm", "transformers", "openai"]],
        typer.Option(
            "--backend", help="vllm, transformers or openai (default: vllm when installed, else transformers)."
        ),
    ] = None,
    base_url: Annotated[
        Optional[list[str]],
        typer.Option(
            "--base-url",
            help="openai: the server's API, e.g. http://localhost:8000/v1; repeat it for replicas of one model, which share the requests (API key: $OPENAI_API_KEY, if set).",
        ),
    ] = None,
    tokenizer: Annotated[
        Optional[str],
        typer.Option(
            "--tokenizer",
            "-t",
            help="Tokenizer that builds prompts for records without one (default: the model's; openai: needed for such records).",
        ),
    ] = None,
    gguf_file: Annotated[
        Optional[str],
        typer.Option("--gguf-file", help="transformers: a GGUF file inside --model to load (de-quantised)."),
    ] = None,
    steer: Annotated[
        Optional[str],
        typer.Option(
            "--steer",
            help="Prefix for built prompts, as tp steer --prefix: brief, steps, concise, no-think, ellipsis, or any text.",
        ),
    ] = None,
    n: Annotated[
        int,
        typer.Option("--n", "-n", min=1, help="Samples per record; with more than one, each output field is a list."),
    ] = 1,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature of both phases (0: greedy).")
    ] = 0.0,
    think_temperature: Annotated[
        Optional[float],
        typer.Option(
            "--think-temperature", min=0.0, help="Temperature of the reasoning phase (default: --temperature)."
        ),
    ] = None,
    answer_temperature: Annotated[
        Optional[float],
        typer.Option("--answer-temperature", min=0.0, help="Temperature of the answer phase (default: --temperature)."),
    ] = None,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling.")] = 1.0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed, for reproducible samples.")] = None,
    max_think_tokens: Annotated[
        Optional[int],
        typer.Option("--max-think-tokens", min=0, help="Cut reasoning at this many tokens, close it and answer."),
    ] = None,
    min_think_tokens: Annotated[
        int,
        typer.Option(
            "--min-think-tokens", min=0, help="A close before this many reasoning tokens is replaced by --wait-text."
        ),
    ] = 0,
    max_waits: Annotated[
        int, typer.Option("--max-waits", min=0, help="Most times one sample's close is replaced.")
    ] = 1,
    wait_text: Annotated[str, typer.Option("--wait-text", help="Text appended in place of an early close.")] = "Wait",
    budget_end_text: Annotated[
        str,
        typer.Option(
            "--budget-end-text", help="Text appended to reasoning cut by --max-think-tokens, before the close."
        ),
    ] = "",
    max_answer_tokens: Annotated[
        int, typer.Option("--max-answer-tokens", min=1, help="Most tokens of the answer phase.")
    ] = 1024,
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            "--batch-size", min=1, help="transformers: prompts per forward pass (default: 16).", show_default=False
        ),
    ] = None,
    dtype: Annotated[
        Optional[str],
        typer.Option(
            "--dtype",
            help="vllm, transformers: weight dtype, auto, float32, float16 or bfloat16 (default: vLLM's auto; transformers: bfloat16 on GPU, float32 on CPU).",
        ),
    ] = None,
    max_model_len: Annotated[
        Optional[int],
        typer.Option(
            "--max-model-len",
            min=1,
            help="vllm, transformers: the context, prompt and output together (default: the model's); a sample that fills it ends alone, finish 'context'.",
        ),
    ] = None,
    gpu_memory_utilization: Annotated[
        Optional[float],
        typer.Option(
            "--gpu-memory-utilization",
            min=0.01,
            max=1.0,
            help="vllm: share of GPU memory for weights and KV cache (default: vLLM's, 0.9).",
        ),
    ] = None,
    tensor_parallel_size: Annotated[
        Optional[int], typer.Option("--tensor-parallel-size", min=1, help="vllm: GPUs one model is split over.")
    ] = None,
    data_parallel_size: Annotated[
        Optional[int],
        typer.Option(
            "--data-parallel-size",
            min=1,
            help="vllm: 1 (one process is one rank; past one GPU, vllm serve --data-parallel-size N and --backend openai: see the README).",
        ),
    ] = None,
    save_prompts: Annotated[
        bool,
        typer.Option(
            "--save-prompts", help="Also write think_prompt and answer_prompt, the exact text each phase was given."
        ),
    ] = False,
    template_kwargs: TemplateKwargs = None,
    think_tags: ThinkTags = None,
    on_error: OnError = "fail",
    input_format: InputFormat = None,
    quiet: Quiet = False,
    skipped: SkippedFile = None,
):
    """[b]Generate[/b] reasoning and answers for records, in two phases, with thinking budgets.

    Adds raw (all the model wrote), reasoning, answer and status (as tp parse splits raw), think_tokens, answer_tokens, think_finish (closed, budget, ended, truncated, context), answer_finish and waits. Records without a prompt field get one from their messages, as tp steer builds it.
    """

    from .. import backends, streams
    from ..errors import UsageError
    from ..generate import GenerateOptions, Generator

    name = backend or backends.default_backend()
    if hybrid and adapter is None:
        raise UsageError("--hybrid needs --adapter: the model that writes the answer")

    def sampling(t: float | None):
        return backends.Sampling(temperature if t is None else t, top_p, seed)

    options = GenerateOptions(  # checked before a model is loaded
        hybrid=hybrid,
        n=n,
        think=sampling(think_temperature),
        answer=sampling(answer_temperature),
        max_think_tokens=max_think_tokens,
        min_think_tokens=min_think_tokens,
        max_waits=max_waits,
        max_answer_tokens=max_answer_tokens,
        budget_end_text=budget_end_text,
        wait_text=wait_text,
        save_prompts=save_prompts,
    )
    engine_options = backends.EngineOptions(
        dtype=dtype,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        tensor_parallel_size=tensor_parallel_size,
        data_parallel_size=data_parallel_size,
        batch_size=batch_size,
        gguf_file=gguf_file,
        seed=seed,
        base_urls=tuple(base_url or ()),
        api_key=os.environ.get("OPENAI_API_KEY"),
    )
    engine_options.check(name)
    # A tokenizer named is learned before the model loads, so its errors come first.
    prompter = _prompter(tokenizer, steer, template_kwargs, think_tags) if tokenizer is not None else None
    engine = backends.create(name, model, adapter, engine_options)
    if prompter is None:
        prompter = _prompter(engine.tokenizer, steer, template_kwargs, think_tags)
    if prompter is None and think_tags is not None:
        raise UsageError("--think-tags needs a chat template to write them in: give --tokenizer")

    generator = Generator(engine, options, prompter)
    # One process: the model is loaded once, and each block of records is one batch per phase.
    summary = streams.write_job(
        inputs or [], generator, output, label="generate", on_error=on_error, workers=1, input_format=input_format
    )
    summary.finish("generate", skipped, quiet)


def _prompter(tokenizer, steer: str | None, template_kwargs: str | None, think_tags: str | None):
    """A Steerer with the learned template (a path, or the engine's tokenizer; None: no chat template):
    it builds the prompts of records without one inside the family's open block (where the reasoning
    phase starts), and its template tells the generator the family's close."""
    from ..steer import Steerer, SteerOptions

    if not isinstance(tokenizer, str) and not getattr(tokenizer, "chat_template", None):
        return None
    template = load_template(tokenizer, template_kwargs, think_tags)
    reasoning = "open" if template.delimiters is not None else "native"
    return Steerer(template, SteerOptions(reasoning=reasoning, prefix=steer))
