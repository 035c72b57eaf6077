"""The openai backend: an OpenAI-compatible completions endpoint (``vllm serve --enable-lora
--lora-modules NAME=PATH``), where the base model and the adapter are two model names.

A call sends one request per distinct token limit (per replica, with several ``--base-url``s)
with all its prompts in the prompt list, requests in flight together, with ``logprobs: 0`` so
each choice lists the tokens it generated (the API counts tokens only per request). Requests
go through the client tp distill uses (``openai_client``): retries, limits, the key kept safe,
and the replicas shared.
"""

from __future__ import annotations

import asyncio
from itertools import groupby

import orjson

from ..errors import UsageError
from ..openai_client import Client, Failed, Retries
from . import LENGTH, STOP, Completion, EngineOptions, Sampling, pieces_before

# A served model that stops answering fails the run in seconds, not after distill's minute of retries.
RETRIES = Retries(max_retries=3, backoff=0.5)


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        options: EngineOptions = EngineOptions(),
        *,
        timeout: float = 600.0,
        concurrency: int = 32,
    ):
        options.check("openai")
        self.model, self.adapter = model, adapter
        self.has_adapter = adapter is not None
        self.tokenizer = None  # the server has the model's; prompts are built with --tokenizer
        self.client = Client(
            options.base_urls,
            "completions",
            options.api_key,
            concurrency=concurrency,
            timeout=timeout,
            retries=RETRIES,
            command="tp generate",
        )

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        batches = []
        order = sorted(range(len(prompts)), key=max_tokens.__getitem__)
        for _, grouped in groupby(order, key=max_tokens.__getitem__):
            group = list(grouped)
            # A server seeds every prompt of a request alike, so copies of one prompt (--n) would be one
            # sample: with a seed, one request per prompt, seeded by its place. Without, a share per replica.
            batches += [[i] for i in group] if sampling.seed is not None else shares(group, len(self.client.urls))
        bodies = [
            self._body([prompts[i] for i in batch], max_tokens[batch[0]], adapter, stop, sampling, batch[0])
            for batch in batches
        ]
        replies = asyncio.run(self._post_all(bodies))
        out: list[Completion | None] = [None] * len(prompts)
        for batch, choices in zip(batches, replies):
            for choice in choices:
                out[batch[choice["index"]]] = _completion(choice, stop)
        return out

    async def _post_all(self, bodies: list[dict]) -> list[list[dict]]:
        async with self.client:
            try:
                return await asyncio.gather(*(self.client.post(body, _choices) for body in bodies))
            except Failed as e:
                raise UsageError(
                    f"{self.client.urls[0] if len(self.client.urls) == 1 else 'the server'}: {e}"
                ) from None

    def _body(self, prompts: list[str], limit: int, adapter: bool, stop: list[str], sampling: Sampling, place: int):
        body = {
            "model": self.adapter if adapter else self.model,
            "prompt": prompts,
            "max_tokens": limit,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "logprobs": 0,
            "skip_special_tokens": False,
        }
        if stop:
            body["stop"] = stop
        if sampling.seed is not None:
            body["seed"] = sampling.seed + place
        return body


def shares(group: list[int], replicas: int) -> list[list[int]]:
    """``group`` cut into at most ``replicas`` nearly equal runs, so every replica gets a part of one call."""
    size, extra = divmod(len(group), replicas)
    out, start = [], 0
    for k in range(min(replicas, len(group))):
        end = start + size + (k < extra)
        out.append(group[start:end])
        start = end
    return out


def _choices(data: bytes) -> list[dict]:
    """The answer's choices, each with an index and a text (else the answer is malformed, tried again)."""
    try:
        choices = orjson.loads(data)["choices"]
        if not all(isinstance(c["index"], int) and isinstance(c["text"], str) for c in choices):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ValueError("no choices with an index and a text") from None
    return choices


def _completion(choice: dict, stop: list[str]) -> Completion:
    finish = LENGTH if choice.get("finish_reason") == "length" else STOP
    if "stop_reason" in choice:  # vLLM names the stop string it ended on (None: end of turn)
        stopped_at = choice["stop_reason"] if choice["stop_reason"] in stop else None
    else:  # other servers cannot tell a stop string from the end of the turn: take it as the close
        stopped_at = stop[0] if finish == STOP and len(stop) == 1 else None
    # Token texts, one per generated token, the stop string's and the end-of-turn token's included:
    # count those that end within the text, as every backend counts.
    pieces = (choice.get("logprobs") or {}).get("tokens") or []
    return Completion(choice["text"], pieces_before(pieces, len(choice["text"])), finish, stopped_at)
