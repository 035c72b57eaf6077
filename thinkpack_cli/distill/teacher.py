"""The teacher: an OpenAI-compatible chat completions endpoint, asked through the shared client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..openai_client import Client, Retries
from .options import DistillOptions
from .summary import Counts


@dataclass(slots=True)
class Reply:
    content: str
    reasoning: str | None  # what the server split off itself (reasoning_content / reasoning)
    finish: str | None
    prompt_tokens: int | None  # None: the server's count was no count
    completion_tokens: int | None


class Teacher(Client):
    """The chat completions of ``--base-url``, with distill's retries, limits and tally."""

    def __init__(self, options: DistillOptions, api_key: str | None, tally: Counts):
        super().__init__(
            [options.base_url],
            "chat/completions",
            api_key,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=Retries(options.max_retries, options.backoff, options.max_retry_wait),
            max_response_bytes=options.max_response_bytes,
            counts=tally,
            command="tp distill",
        )
        self.options = options

    def body(self, prompt: str) -> dict:
        body: dict[str, Any] = {"model": self.options.model, "messages": [{"role": "user", "content": prompt}]}
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            body["max_tokens"] = self.options.max_tokens
        return body

    async def complete(self, prompt: str) -> Reply:
        return await self.post(self.body(prompt), lambda data: _completion(data, self.redact))


def _token_count(value: Any) -> int | None:
    """A usage count as a server should send it: a whole number a JSON line can hold; None otherwise
    (1e30, -5, "many": the record is kept, the count is unknown)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (0 <= value < 2**53) or value != int(value):
        return None
    return int(value)


def _completion(data: bytes, redact=lambda text: text) -> Reply:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ValueError(f"not JSON ({len(data)} bytes)") from None
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        # vLLM now says "reasoning" and may send a null "reasoning_content" beside it.
        reasoning = next((message[k] for k in ("reasoning_content", "reasoning") if message.get(k) is not None), None)
        if not isinstance(content, str) or not isinstance(reasoning, (str, type(None))):
            raise TypeError
        usage = body.get("usage") or {}
        # The body's bytes were redacted; an escaped key (\u0073k-…) is only whole once decoded.
        return Reply(
            redact(content),
            None if reasoning is None else redact(reasoning),
            choice.get("finish_reason"),
            _token_count(usage.get("prompt_tokens") or 0),
            _token_count(usage.get("completion_tokens") or 0),
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise ValueError("no choices[0].message with text content") from None
