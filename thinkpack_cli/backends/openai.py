"""The openai backend: an OpenAI-compatible completions endpoint (``vllm serve --enable-lora
--lora-modules NAME=PATH``), where the base model and the adapter are two model names.

A call sends one request per distinct token limit with all its prompts in the prompt list
(requests in flight together), with ``logprobs: 0`` so each choice lists the tokens it
generated (the API counts tokens only per request).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby

from ..errors import UsageError
from . import LENGTH, STOP, Completion, Sampling, pieces_before


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        concurrency: int = 32,
    ):
        if not base_url:
            raise UsageError("--backend openai needs --base-url, e.g. http://localhost:8000/v1")
        self.url = base_url.rstrip("/") + "/completions"
        self.model, self.adapter, self.api_key, self.timeout = model, adapter, api_key, timeout
        self.has_adapter = adapter is not None
        self.tokenizer = None  # the server has the model's; prompts are built with --tokenizer
        self.concurrency = concurrency

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        batches = []
        order = sorted(range(len(prompts)), key=max_tokens.__getitem__)
        for _, grouped in groupby(order, key=max_tokens.__getitem__):
            group = list(grouped)
            # A server seeds every prompt of a request alike, so copies of one prompt (--n) would be one
            # sample: with a seed, one request per prompt, seeded by its place.
            batches += [[i] for i in group] if sampling.seed is not None else [group]
        bodies = [
            self._body([prompts[i] for i in batch], max_tokens[batch[0]], adapter, stop, sampling, batch[0])
            for batch in batches
        ]
        out: list[Completion | None] = [None] * len(prompts)
        with ThreadPoolExecutor(self.concurrency) as pool:
            for batch, reply in zip(batches, pool.map(self._post, bodies)):
                for choice in reply["choices"]:
                    out[batch[choice["index"]]] = _completion(choice, stop)
        return out

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

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise UsageError(f"{self.url}: HTTP {e.code}: {e.read()[:300].decode(errors='replace')}") from None
        except urllib.error.URLError as e:
            raise UsageError(f"{self.url}: {e.reason}") from None


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
