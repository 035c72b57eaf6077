"""Engines behind ``tp generate``: one small interface, three implementations.

A backend completes a batch of text prompts in one call, with the base model or with the
adapter, and says for each completion how many tokens the engine generated and why it
stopped. Budgets, phases and parsing live in ``generate.py``; a backend knows none of them.
Each implementation module imports its engine (torch, vLLM, HTTP) only when constructed.

Every backend counts alike (``Completion.tokens``): the tokens the model wrote before the stop
string it ended on, never the end-of-turn token itself. The helpers below are that rule,
shared, and testable without any engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, Callable, Iterable, Protocol

from ..errors import UsageError

BACKENDS = ("vllm", "transformers", "openai")
# Completion.finish values: a stop string or the end of the turn, the token limit, or a full context
# (the prompt and what was generated reached the model's length; nothing more can come).
STOP, LENGTH, CONTEXT = "stop", "length", "context"
MAX_TEMPERATURE = 2.0  # vLLM's SamplingParams and the OpenAI API refuse more


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self):
        # Checked here, before a model loads, with the bounds vLLM's SamplingParams enforces.
        if not (math.isfinite(self.temperature) and 0 <= self.temperature <= MAX_TEMPERATURE):
            raise UsageError(f"a temperature must be between 0 and {MAX_TEMPERATURE:g} (got {self.temperature:g})")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1] (got {self.top_p:g}): 0 keeps no token; 1 keeps all")


@dataclass(frozen=True)
class Completion:
    text: str  # the generated text, without the stop string that ended it
    tokens: (
        int  # tokens the engine generated before the stop string (a close is not reasoning; an end of turn is no token)
    )
    finish: str  # STOP, LENGTH or CONTEXT
    stopped_at: str | None = None  # the stop string it ended on; None at end of turn or limit
    prompt_tokens: int = 0  # tokens of the prompt the engine read (prefilled) for it; 0 where unknown


class Backend(Protocol):
    has_adapter: bool
    tokenizer: Any  # builds prompts for records without one; None where the engine has none here

    def complete(
        self, prompts: list[str], max_tokens: list[int], *, adapter: bool, stop: list[str], sampling: Sampling
    ) -> list[Completion]:
        """One completion per prompt, each within its own token limit, in one batched call."""
        ...


def tokens_before(ids: list[int], length: int, decode: Callable[[list[int]], str]) -> int:
    """How many of the generated ``ids`` decode within the first ``length`` characters of their text.

    An engine stops on the token that completes its stop string, so the cut lies a few tokens from
    the end: step back from there, one decode per token stepped over, instead of decoding every
    prefix (quadratic: 1.6 s for a 4k-token sample)."""
    k = len(ids)
    while k and len(decode(ids[:k])) > length:
        k -= 1
    return k


def pieces_before(pieces: Iterable[str], length: int) -> int:
    """How many token texts, laid end to end, fit in the first ``length`` characters (an API's per-token texts)."""
    count = end = 0
    for piece in pieces:
        end += len(piece)
        if end > length:
            break
        count += 1
    return count


def first_stop(text: str, stops: list[str]) -> tuple[int, str] | None:
    """Where the first stop string to be completed begins in ``text``, and which it is (None: none is there).
    Earliest end first, as an engine checking after each token sees it; then earliest start."""
    found = [(at + len(s), at, s) for s in stops if (at := text.find(s)) >= 0]
    if not found:
        return None
    _, at, hit = min(found)
    return at, hit


def room(prompt_tokens: list[int], max_tokens: list[int], max_model_len: int | None) -> list[int]:
    """Each prompt's token limit, clamped to what its prompt leaves of the model's context (0: nothing left).
    A prompt at or over the length is answered alone with a full context, never sent to fail the batch."""
    if max_model_len is None:
        return list(max_tokens)
    return [max(0, min(limit, max_model_len - n)) for n, limit in zip(prompt_tokens, max_tokens)]


def finish_within(finish: str, limit: int, asked: int) -> str:
    """A LENGTH finish at a limit cut short by the context is a full context, not the caller's limit."""
    return CONTEXT if finish == LENGTH and limit < asked else finish


@dataclass(frozen=True)
class EngineOptions:
    """tp generate's engine options: one object handed to whichever backend runs (None: its default).
    ``check`` refuses, before anything loads, an option the chosen backend does not take."""

    dtype: str | None = None  # vllm, transformers
    max_model_len: int | None = None  # vllm, transformers
    gpu_memory_utilization: float | None = None  # vllm
    tensor_parallel_size: int | None = None  # vllm
    data_parallel_size: int | None = None  # vllm: 1 only (see check)
    batch_size: int | None = None  # transformers
    gguf_file: str | None = None  # transformers
    seed: int | None = None  # transformers seeds torch with it; every backend seeds its requests
    base_urls: tuple[str, ...] = ()  # openai: one or more replicas of the served model
    api_key: str | None = None  # openai, from the environment

    def check(self, backend: str) -> None:
        if backend not in TAKES:
            raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}")
        for name in fields_given(self):
            if name not in TAKES[backend] and name not in ("seed", "api_key"):
                users = [b for b, names in TAKES.items() if name in names]
                flag = "--base-url" if name == "base_urls" else "--" + name.replace("_", "-")
                raise UsageError(f"{flag} applies to --backend {' or '.join(users)}, not {backend}")
        if self.dtype not in (None, *DTYPES):
            raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}")
        if (self.data_parallel_size or 1) > 1:
            # vLLM's LLM raises for data_parallel_size > 1 in one process since PR #27282 (and hung
            # before it, issue #27269): its offline ranks need a process each and a launcher.
            raise UsageError(
                f"--data-parallel-size {self.data_parallel_size}: vLLM runs one data-parallel rank per process; "
                f"serve the model with `vllm serve MODEL --data-parallel-size {self.data_parallel_size}` "
                "and use --backend openai --base-url (see the README: past one GPU)"
            )
        if backend == "openai" and not self.base_urls:
            raise UsageError("--backend openai needs --base-url, e.g. http://localhost:8000/v1")


# The options each backend takes (tp generate's flags, named as EngineOptions names them).
TAKES = {
    "vllm": ("dtype", "max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "data_parallel_size"),
    "transformers": ("dtype", "max_model_len", "batch_size", "gguf_file", "seed"),
    "openai": ("base_urls", "api_key"),
}
DTYPES = ("auto", "float32", "float16", "bfloat16")


def fields_given(options: EngineOptions) -> list[str]:
    """The names of the options given (not None, not empty)."""
    return [f.name for f in dataclass_fields(options) if getattr(options, f.name) not in (None, ())]


def default_backend() -> str:
    """vllm when it is importable, else transformers (without importing either)."""
    from importlib.util import find_spec

    return "vllm" if find_spec("vllm") is not None else "transformers"


def create(name: str, model: str, adapter: str | None, options: EngineOptions) -> Backend:
    """The backend called ``name``, given the options it takes (its constructor checks them)."""
    if name == "transformers":
        from .transformers import TransformersBackend as cls
    elif name == "vllm":
        from .vllm import VllmBackend as cls
    else:
        from .openai import OpenAIBackend as cls
    return cls(model, adapter, options)
