"""Engines behind ``tp generate``: one small interface, three implementations.

A backend completes a batch of text prompts in one call, with the base model or with the
adapter, and says for each completion how many tokens the engine generated and why it
stopped. Budgets, phases and parsing live in ``generate.py``; a backend knows none of them.
Each implementation module imports its engine (torch, vLLM, HTTP) only when constructed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

BACKENDS = ("vllm", "transformers", "openai")


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str  # the generated text, without the stop string that ended it
    tokens: int  # tokens the engine generated before the stop string (a close is not reasoning)
    finish: str  # "stop" (a stop string or end of turn) or "length" (the token limit)
    stopped_at: str | None = None  # the stop string it ended on; None at end of turn or limit


def tokens_before(texts: list[str], length: int) -> int:
    """How many tokens lie before character ``length`` of the generated text, given the text
    of each prefix of the generated tokens (``texts[k]``: the first k+1 tokens decoded)."""
    return next((k for k, text in enumerate(texts) if len(text) > length), len(texts))


class Backend(Protocol):
    has_adapter: bool
    tokenizer: Any  # builds prompts for records without one; None where the engine has none here

    def complete(self, prompts: list[str], max_tokens: list[int], *, adapter: bool, stop: list[str],
                 sampling: Sampling) -> list[Completion]:
        """One completion per prompt, each within its own token limit, in one batched call."""
        ...


def default_backend() -> str:
    """vllm when it is importable, else transformers (without importing either)."""
    from importlib.util import find_spec

    return "vllm" if find_spec("vllm") is not None else "transformers"


def create(name: str, model: str, adapter: str | None, **options: Any) -> Backend:
    """The backend called ``name``; ``options`` are those its constructor takes."""
    from ..errors import UsageError

    if name == "transformers":
        from .transformers import TransformersBackend as cls
    elif name == "vllm":
        from .vllm import VllmBackend as cls
    elif name == "openai":
        from .openai import OpenAIBackend as cls
    else:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}")
    return cls(model, adapter, **options)
