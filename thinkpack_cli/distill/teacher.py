"""The teacher: an OpenAI-compatible chat completions endpoint, asked with retries, its text redacted."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from .. import console
from ..errors import UsageError
from .options import DistillOptions
from .summary import Counts

MAX_BACKOFF = 60.0
# The status codes that say the run itself is misconfigured: every record would get the same.
REFUSALS = {401: "the API key was refused", 403: "the API key was refused", 404: "no such model or endpoint"}


@dataclass(slots=True)
class Reply:
    content: str
    reasoning: str | None  # what the server split off itself (reasoning_content / reasoning)
    finish: str | None
    prompt_tokens: int | None  # None: the server's count was no count
    completion_tokens: int | None


class Failed(Exception):
    """A request that got no usable answer after its retries, or one not worth retrying."""


class Teacher:
    """Chat completions over one aiohttp session: keep-alive connections, at most
    ``concurrency`` open, retries with exponential backoff and jitter.

    The API key lives only in the session's headers. Whatever the server sends (a body,
    an answer, a header) has the key blanked out as it arrives, before it is parsed, cut
    or repeated; redirects are not followed (they would carry the key elsewhere).
    """

    def __init__(self, options: DistillOptions, api_key: str | None, tally: Counts):
        base = options.base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.options = options
        self.tally = tally
        self._key = api_key
        self._key_bytes = api_key.encode() if api_key else None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._random = random.Random()

    async def __aenter__(self) -> Teacher:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.options.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            headers=self._headers,
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._session.close()

    def body(self, prompt: str) -> bytes:
        body: dict[str, Any] = {"model": self.options.model, "messages": [{"role": "user", "content": prompt}]}
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            body["max_tokens"] = self.options.max_tokens
        return orjson.dumps(body)

    async def complete(self, prompt: str) -> Reply:
        body = self.body(prompt)
        aiohttp = self._aiohttp
        attempt = 0
        while True:
            wait = None
            try:
                async with self._session.post(self.url, data=body, allow_redirects=False) as response:
                    status, headers = response.status, response.headers
                    data = self.redact_bytes(await self._read(response))
            except asyncio.TimeoutError:
                reason = f"no answer within {self.options.timeout:g} s"
            except aiohttp.ClientError as e:
                reason = self.redact(f"connection failed ({type(e).__name__}{': ' + str(e) if str(e) else ''})")
            except TooLarge as e:
                reason = str(e)
            else:
                if status == 200:
                    try:
                        return _completion(data, self.redact)
                    except ValueError as e:
                        reason = f"malformed response: {e}"
                else:
                    reason = f"HTTP {status}: {_server_message(data)}"
                    if 300 <= status < 400:
                        location = self.redact(headers.get("Location", "?"))
                        raise UsageError(
                            f"{self.url} redirects to {location}; tp sends the key "
                            "only to --base-url: give the final address there"
                        )
                    if status in REFUSALS:
                        raise UsageError(f"{self.url}: {REFUSALS[status]} ({reason})")
                    if status != 429 and status < 500:
                        raise Failed(reason)
                    wait = _retry_after(headers)
            if attempt == self.options.max_retries:
                raise Failed(reason if attempt == 0 else f"{reason} (after {attempt + 1} tries)")
            attempt += 1
            self.tally.retries += 1
            await asyncio.sleep(self.delay(attempt, wait))

    async def _read(self, response) -> bytes:
        """The body, read no further than ``max_response_bytes``."""
        cap = self.options.max_response_bytes
        if (response.content_length or 0) > cap:
            raise TooLarge(f"response of {response.content_length:,} bytes, over the {cap:,} read")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > cap:
                raise TooLarge(f"response over the {cap:,} bytes read")
            chunks.append(chunk)
        return b"".join(chunks)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 1``: doubling from ``--backoff``, half of it random so
        that workers turned away together do not come back together; at least Retry-After,
        up to ``--max-retry-wait`` (said once on stderr, and in the progress line)."""
        ceiling = min(MAX_BACKOFF, self.options.backoff * 2 ** (attempt - 1))
        jitter = self._random.uniform(0, ceiling / 2)
        if retry_after is None:
            return ceiling / 2 + jitter
        cap = self.options.max_retry_wait
        if retry_after > cap:
            if not self.tally.capped_waits:
                console.say(
                    f"tp distill: the server asks to wait {retry_after:g} s before retrying (Retry-After); "
                    f"waiting {cap:g} s at most (--max-retry-wait)"
                )
            self.tally.capped_waits += 1
            return cap
        return retry_after + min(jitter, cap - retry_after)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[API key]") if self._key else text

    def redact_bytes(self, data: bytes) -> bytes:
        return data.replace(self._key_bytes, b"[API key]") if self._key_bytes else data


class TooLarge(Exception):
    """A response body over ``max_response_bytes``."""


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


def _server_message(data: bytes) -> str:
    try:
        message = orjson.loads(data)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = data[:200].decode("utf-8", "replace")
    return " ".join(str(message).split()) or "no message"


def _retry_after(headers) -> float | None:
    """The wait a 429 or 503 asks for: ``retry-after-ms`` (OpenAI), else ``Retry-After`` in seconds or as a date."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        pass  # unreadable: back off as usual
    return None
