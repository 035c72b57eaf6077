"""Tokenizers and chat templates: loading, rendering a generation prompt, counting tokens.

A local folder that light_tokenizer.py can serve exactly loads without transformers (its import and
``AutoTokenizer`` were most of ``tp mask``'s start-up); anything else loads through transformers, which
is imported here only, and only then. ``TP_TOKENIZER=transformers`` forces transformers (the tests
compare both paths with it).
"""

from __future__ import annotations

import os
from typing import Any

from . import sandbox
from .errors import UsageError
from .formats import TagFormat, prompt_opens_reasoning

_PROBE = [{"role": "user", "content": "What is 2 + 2?"}]
_ROUND_TRIP = "Hello, world! 2 + 2 = 4; héllo 漢字"  # every real tokenizer gives this back exactly


def load(name_or_path: str) -> Any:
    """A tokenizer from a local folder, or a hub name when online."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tp forks its own workers
    tokenizer = None
    if os.environ.get("TP_TOKENIZER") != "transformers":
        from . import light_tokenizer

        tokenizer = light_tokenizer.load(name_or_path)
    if tokenizer is None:
        tokenizer = _auto_tokenizer(name_or_path)
    return sandbox.bound(_checked(tokenizer, name_or_path))


def _auto_tokenizer(name_or_path: str) -> Any:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # not "PyTorch was not found": tp needs no torch here
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise UsageError("--tokenizer needs transformers (pip install transformers)") from None
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as e:  # transformers raises many kinds; all mean "cannot load this"
        if os.path.isdir(name_or_path) and not any(
            name.startswith(("tokenizer.json", "vocab.", "tokenizer.model", "merges.")) or name.endswith(".tiktoken")
            for name in os.listdir(name_or_path)
        ):
            raise _no_vocabulary(name_or_path, "no vocabulary file") from None  # newer transformers raise here
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot load tokenizer {name_or_path!r}: {first_line}") from None
    return tokenizer


def _checked(tokenizer: Any, name_or_path: str) -> Any:
    # A folder with tokenizer_config.json alone loads (in older transformers) as an empty vocabulary
    # that encodes everything to nothing (or garbage): a tokenizer must give a text back from its ids.
    ids = token_ids(tokenizer, [_ROUND_TRIP])[0]
    if not ids or tokenizer.decode(ids) != _ROUND_TRIP:
        raise _no_vocabulary(name_or_path, f"{len(tokenizer)} tokens")
    return tokenizer


def _no_vocabulary(name_or_path: str, why: str) -> UsageError:
    return UsageError(
        f"cannot load tokenizer {name_or_path!r}: its vocabulary did not load ({why}; a folder "
        "needs tokenizer.json, or the vocabulary files, beside tokenizer_config.json)"
    )


def generation_prompt(tokenizer: Any, messages: list[dict] = _PROBE, **template_kwargs: Any) -> str:
    """The text the chat template renders for ``messages`` plus the generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("the tokenizer has no chat template")
    try:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **template_kwargs)
    except Exception as e:
        raise UsageError(f"the chat template failed to render: {e}") from None


def prefixed_format(tokenizer: Any, **template_kwargs: Any) -> TagFormat | None:
    """The format whose block the template's generation prompt opens (DeepSeek-R1-Distill, QwQ), if any."""
    return prompt_opens_reasoning(generation_prompt(tokenizer, **template_kwargs))


def count_tokens(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts of ``texts``, without special tokens, in one batched call."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer directly: no Python per text
        return [len(e.ids) for e in backend.encode_batch(texts, add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def token_ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of ``texts`` in one batched call, without special tokens: a chat template writes its own."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]
