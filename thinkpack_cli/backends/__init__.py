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


# The engine options each backend takes (tp generate's flags, named as the constructors name them).
ENGINE_OPTIONS = {
    "vllm": ("dtype", "max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "data_parallel_size"),
    "transformers": ("dtype", "max_model_len", "batch_size", "gguf_file", "seed"),
    "openai": ("base_url", "api_key"),
}


def engine_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options of ``given`` (None: not given) that backend ``name`` takes; one it does not take is a
    usage error, not an option quietly ignored."""
    if name not in ENGINE_OPTIONS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}")
    for key, value in given.items():
        # --seed also seeds the requests, and the key comes from the environment: neither is refused.
        if value is not None and key not in ENGINE_OPTIONS[name] and key not in ("seed", "api_key"):
            users = [b for b, keys in ENGINE_OPTIONS.items() if key in keys]
            raise UsageError(f"--{key.replace('_', '-')} applies to --backend {' or '.join(users)}, not {name}")
    return {k: v for k, v in given.items() if k in ENGINE_OPTIONS[name] and v is not None}


def default_backend() -> str:
    """vllm when it is importable, else transformers (without importing either)."""
    from importlib.util import find_spec

    return "vllm" if find_spec("vllm") is not None else "transformers"


def create(name: str, model: str, adapter: str | None, **options: Any) -> Backend:
    """The backend called ``name``; ``options`` are those its constructor takes."""
    if name == "transformers":
        from .transformers import TransformersBackend as cls
    elif name == "vllm":
        from .vllm import VllmBackend as cls
    elif name == "openai":
        from .openai import OpenAIBackend as cls
    else:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}")
    return cls(model, adapter, **options)
