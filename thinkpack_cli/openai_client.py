"""One client for OpenAI-compatible endpoints, shared by ``tp distill`` (chat completions) and
``tp generate --backend openai`` (completions).

aiohttp, with keep-alive connections and at most ``concurrency`` requests in flight; retries with
exponential backoff and jitter, a Retry-After honoured up to a cap; bodies read no further than a
size. The API key lives only in the session's headers: whatever a server sends (a body, an
answer, a header) has it blanked as it arrives, before it is parsed, cut or repeated, and
redirects are not followed (they would carry the key elsewhere).

Several base URLs are replicas of one model (``vllm serve`` on each GPU or node, or behind no
balancer): each request goes to the replica that has failed least lately, then has the fewest
requests in flight, then has been sent the fewest; a retry goes to another replica where there is one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Sequence, TypeVar

import orjson

from . import console
from .errors import UsageError

T = TypeVar("T")
MAX_BACKOFF = 60.0
# The status codes that say the run itself is misconfigured: every request would get the same.
REFUSALS = {401: "the API key was refused", 403: "the API key was refused", 404: "no such model or endpoint"}


@dataclass(frozen=True)
class Retries:
    max_retries: int = 6
    backoff: float = 1.0  # seconds before the first retry; doubles with each
    max_retry_wait: float = 60.0  # the longest wait a Retry-After header gets


@dataclass
class RetryCounts:
    retries: int = 0
    capped_waits: int = 0  # Retry-After waits cut to max_retry_wait


class Failed(Exception):
    """A request that got no usable answer after its retries, or one not worth retrying."""


class TooLarge(Exception):
    """A response body over ``max_response_bytes``."""


class _Retry(Exception):
    """A try that failed in a way another try may not: its reason, and the wait the server asked for."""


def endpoint(base_url: str, route: str) -> str:
    """``base_url`` with ``route`` (``chat/completions``, ``completions``) after it, unless it ends with it."""
    base = base_url.rstrip("/")
    return base if base.endswith("/" + route) else f"{base}/{route}"


class Client:
    """Posts JSON bodies to ``route`` of one or more replicas; use it as ``async with client:`` (a session
    per event loop; what it learns of the replicas is kept between sessions)."""

    def __init__(
        self,
        base_urls: Sequence[str],
        route: str,
        api_key: str | None,
        *,
        concurrency: int = 32,
        timeout: float = 120.0,
        retries: Retries = Retries(),
        max_response_bytes: int = 64 << 20,
        counts: Any = None,  # anything with ``retries`` and ``capped_waits``: the caller's tally
        command: str = "tp",
    ):
        if not base_urls:
            raise UsageError("no --base-url given, e.g. http://localhost:8000/v1")
        self.urls = [endpoint(url, route) for url in base_urls]
        self.concurrency, self.timeout, self.retries = concurrency, timeout, retries
        self.max_response_bytes = max_response_bytes
        self.counts = counts if counts is not None else RetryCounts()
        self.command = command
        self._key = api_key
        self._key_bytes = api_key.encode() if api_key else None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._random = random.Random()
        self.sent: Counter = Counter()  # requests sent to each replica, retries included
        self._in_flight: Counter = Counter()
        self._failing: Counter = Counter()  # each replica's failed tries since its last answer

    async def __aenter__(self) -> Client:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers=self._headers,
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._session.close()

    def replica(self, avoid: str | None = None) -> str:
        others = [url for url in self.urls if url != avoid] or self.urls
        return min(others, key=lambda url: (self._failing[url], self._in_flight[url], self.sent[url]))

    async def post(self, body: dict, parse: Callable[[bytes], T]) -> T:
        """``parse`` of the answer's (redacted) bytes; a ``ValueError`` from it is a malformed answer, tried again.
        Raises ``Failed`` when no try gave an answer, ``UsageError`` when no request could ever get one."""
        data = orjson.dumps(body)
        attempt, url = 0, None
        while True:
            url = self.replica(avoid=url)
            try:
                value = await self._try(url, data, parse)
            except _Retry as retry:
                reason, wait = retry.args
            else:
                self._failing[url] = 0
                return value
            self._failing[url] += 1
            if attempt == self.retries.max_retries:
                where = f" ({url})" if len(self.urls) > 1 else ""
                raise Failed((reason if attempt == 0 else f"{reason} (after {attempt + 1} tries)") + where)
            attempt += 1
            self.counts.retries += 1
            await asyncio.sleep(self.delay(attempt, wait))

    async def _try(self, url: str, data: bytes, parse):
        """One try: the parsed answer; ``_Retry(reason, wait asked for)`` when another try may get one."""
        aiohttp = self._aiohttp
        self.sent[url] += 1
        self._in_flight[url] += 1
        try:
            async with self._session.post(url, data=data, allow_redirects=False) as response:
                status, headers = response.status, response.headers
                body = self.redact_bytes(await self._read(response))
        except asyncio.TimeoutError:
            raise _Retry(f"no answer within {self.timeout:g} s", None) from None
        except aiohttp.ClientError as e:
            reason = self.redact(f"connection failed ({type(e).__name__}{': ' + str(e) if str(e) else ''})")
            raise _Retry(reason, None) from None
        except TooLarge as e:
            raise _Retry(str(e), None) from None
        finally:
            self._in_flight[url] -= 1
        if status == 200:
            try:
                return parse(body)
            except ValueError as e:
                raise _Retry(f"malformed response: {e}", None) from None
        reason = f"HTTP {status}: {server_message(body)}"
        if 300 <= status < 400:
            location = self.redact(headers.get("Location", "?"))
            raise UsageError(
                f"{url} redirects to {location}; tp sends the key only to --base-url: give the final address there"
            )
        if status in REFUSALS:
            raise UsageError(f"{url}: {REFUSALS[status]} ({reason})")
        if status != 429 and status < 500:
            raise Failed(reason)  # the request itself is refused: trying again gets the same
        raise _Retry(reason, retry_after(headers))

    async def _read(self, response) -> bytes:
        """The body, read no further than ``max_response_bytes``."""
        cap = self.max_response_bytes
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
        """Seconds before try ``attempt + 1``: doubling from ``backoff``, half of it random so that
        clients turned away together do not come back together; at least Retry-After, up to
        ``max_retry_wait`` (said once on stderr)."""
        ceiling = min(MAX_BACKOFF, self.retries.backoff * 2 ** (attempt - 1))
        jitter = self._random.uniform(0, ceiling / 2)
        if retry_after is None:
            return ceiling / 2 + jitter
        cap = self.retries.max_retry_wait
        if retry_after > cap:
            if not self.counts.capped_waits:
                console.say(
                    f"{self.command}: the server asks to wait {retry_after:g} s before retrying (Retry-After); "
                    f"waiting {cap:g} s at most (--max-retry-wait)"
                )
            self.counts.capped_waits += 1
            return cap
        return retry_after + min(jitter, cap - retry_after)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[API key]") if self._key else text

    def redact_bytes(self, data: bytes) -> bytes:
        return data.replace(self._key_bytes, b"[API key]") if self._key_bytes else data


def server_message(data: bytes) -> str:
    try:
        message = orjson.loads(data)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = data[:200].decode("utf-8", "replace")
    return " ".join(str(message).split()) or "no message"


def retry_after(headers) -> float | None:
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
