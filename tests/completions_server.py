"""An OpenAI-compatible ``/v1/completions`` server on 127.0.0.1, backed by a transformers model
and a peft adapter that are served as two model names, as ``vllm serve --enable-lora
--lora-modules NAME=PATH`` serves them. For tests of ``tp generate --backend openai``.

Greedy or sampled, one prompt at a time, with plain ``model.generate`` (none of tp's code), so
a test that compares it with tp's transformers backend compares two implementations. It
answers what tp reads: ``text``, ``finish_reason``, vLLM's ``stop_reason`` and
``logprobs.tokens`` (one entry per generated token, the end-of-turn token included, as vLLM's).

As vLLM does, generation ends at the first stop string (not at ``max_tokens``, which tp sets to
the whole thinking budget: tens of thousands of tokens), and a request whose prompt and
``max_tokens`` exceed the model's context is refused with a 400. Each request is served on its
own thread (``ThreadingHTTPServer``), so a slow generation never holds up another connection.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CompletionsServer:
    def __init__(self, model, tokenizer, base_name: str = "base", adapter_name: str | None = None):
        self.model, self.tokenizer = model, tokenizer  # model: a PeftModel when adapter_name is given
        self.names = {base_name: False} | ({adapter_name: True} if adapter_name else {})
        self.requests: list[dict] = []
        self.lock = threading.Lock()  # one generation at a time: the model is shared

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> CompletionsServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, reply = server.respond(self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond(self, path: str, body: dict) -> tuple[int, dict]:
        if path != "/v1/completions":
            return 404, {"error": {"message": f"no route {path}"}}
        if body.get("model") not in self.names:
            return 404, {"error": {"message": f"model {body.get('model')!r} does not exist"}}
        self.requests.append(body)
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        context = self.model.config.max_position_embeddings
        for prompt in prompts:
            size = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            if size + body["max_tokens"] > context:  # vLLM's check, in its words (a 400 BadRequestError)
                return 400, {
                    "error": {
                        "message": (
                            f"'max_tokens' or 'max_completion_tokens' is too large: {body['max_tokens']}. This model's maximum "
                            f"context length is {context} tokens and your request has {size} input tokens "
                            f"({body['max_tokens']} > {context} - {size})."
                        ),
                        "type": "BadRequestError",
                        "code": 400,
                    }
                }
        with self.lock:
            choices = [self.complete(p, body) | {"index": i} for i, p in enumerate(prompts)]
        return 200, {"object": "text_completion", "model": body["model"], "choices": choices}

    def complete(self, prompt: str, body: dict) -> dict:
        import contextlib

        import torch

        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        stop = body.get("stop") or []
        sample = body.get("temperature", 1.0) > 0
        if body.get("seed") is not None:
            torch.manual_seed(body["seed"])
        base = not self.names[body["model"]] and hasattr(self.model, "disable_adapter")
        with torch.inference_mode(), self.model.disable_adapter() if base else contextlib.nullcontext():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=body["max_tokens"],
                do_sample=sample,
                pad_token_id=self.tokenizer.eos_token_id,
                **({"stop_strings": stop, "tokenizer": self.tokenizer} if stop else {}),
                **({"temperature": body["temperature"], "top_p": body.get("top_p", 1.0)} if sample else {}),
            )
        new = out[0, ids.shape[1] :].tolist()
        finish, stop_reason = "length", None
        if self.tokenizer.eos_token_id in new:
            new, finish = new[: new.index(self.tokenizer.eos_token_id)], "stop"
        if any(s in self.tokenizer.decode(new) for s in stop):  # cut after the token that completes the first one
            shortest, longest = 1, len(new)
            while shortest < longest:
                middle = (shortest + longest) // 2
                if any(s in self.tokenizer.decode(new[:middle]) for s in stop):
                    longest = middle
                else:
                    shortest = middle + 1
            text = self.tokenizer.decode(new[:shortest])
            stop_reason = min((s for s in stop if s in text), key=text.index)
            new, finish = new[:shortest], "stop"
        text = self.tokenizer.decode(new)
        if stop_reason is not None:
            text = text[: text.index(stop_reason)]
        tokens = [self.tokenizer.decode([t]) for t in new]
        if finish == "stop" and stop_reason is None:  # vLLM lists the end-of-turn token too, though text has none
            tokens.append(self.tokenizer.decode([self.tokenizer.eos_token_id]))
        return {
            "text": text,
            "finish_reason": finish,
            "stop_reason": stop_reason,
            "logprobs": {"tokens": tokens, "token_logprobs": [0.0] * len(tokens)},
        }
