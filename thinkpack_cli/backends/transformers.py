"""The transformers backend: ``AutoModelForCausalLM`` plus a peft adapter, CPU or GPU.

Batches are left-padded so every row's continuation starts at the same column; the adapter is
switched off with peft's ``disable_adapter()`` for base-model calls, so one copy of the
weights serves both phases. There is no cache between calls: every call prefills its prompts
whole, which is what ``prompt_tokens`` reports.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import UsageError
from . import CONTEXT, LENGTH, STOP, Completion, EngineOptions, Sampling, finish_within, first_stop, room, tokens_before


class TransformersBackend:
    def __init__(self, model: str, adapter: str | None = None, options: EngineOptions = EngineOptions()):
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        options.check("transformers")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise UsageError("--backend transformers needs torch: pip install 'thinkpack-cli[generate]'") from None
        hf_logging.disable_progress_bar()  # tp shows its own progress; loading bars would interleave with it
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        extra = {"gguf_file": options.gguf_file} if options.gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(model, **extra)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = options.dtype or ("bfloat16" if self.device == "cuda" else "float32")
        self.model = (
            AutoModelForCausalLM.from_pretrained(
                model, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **extra
            )
            .to(self.device)
            .eval()
        )
        if adapter is not None:
            try:
                from peft import PeftModel
            except ImportError:
                raise UsageError("--adapter needs peft: pip install 'thinkpack-cli[generate]'") from None
            self.model = PeftModel.from_pretrained(self.model, adapter).eval()
        self.has_adapter = adapter is not None
        self.batch_size = options.batch_size or 16
        # Past its trained positions a model writes noise (or fails): that is its context, unless told otherwise.
        self.max_model_len = options.max_model_len or getattr(self.model.config, "max_position_embeddings", None)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        # A turn ends on the tokenizer's end-of-sequence token or the model's own (chat models set several).
        ends = self.model.generation_config.eos_token_id
        self.end_ids = set(ends if isinstance(ends, list) else [ends] if ends is not None else [])
        self.end_ids.add(self.tokenizer.eos_token_id)

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        # Prompts are chat-template text that already holds its special tokens.
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        limits = room(lengths, max_tokens, self.max_model_len)
        out: list[Completion | None] = [
            Completion("", 0, CONTEXT, None, n) if limit == 0 else None for n, limit in zip(lengths, limits)
        ]
        todo = [i for i, c in enumerate(out) if c is None]
        for lo in range(0, len(todo), self.batch_size):
            rows = todo[lo : lo + self.batch_size]
            done = self._batch([prompts[i] for i in rows], [limits[i] for i in rows], adapter, stop, sampling)
            for i, c in zip(rows, done):
                out[i] = Completion(
                    c.text, c.tokens, finish_within(c.finish, limits[i], max_tokens[i]), c.stopped_at, lengths[i]
                )
        return out

    def _batch(self, prompts, limits, adapter, stop, sampling):
        torch = self.torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = sampling.temperature > 0
        switch = self.model.disable_adapter() if self.has_adapter and not adapter else contextlib.nullcontext()
        with torch.inference_mode(), switch:
            generated = self.model.generate(
                **enc,
                max_new_tokens=max(limits),
                do_sample=sample,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=sorted(self.end_ids),
                stop_strings=stop or None,
                tokenizer=self.tokenizer,
                **({"temperature": sampling.temperature, "top_p": sampling.top_p} if sample else {}),
            )
        width = enc["input_ids"].shape[1]
        return [self._completion(row[width:].tolist(), limit, stop) for row, limit in zip(generated, limits)]

    def _completion(self, ids: list[int], limit: int, stop: list[str]) -> Completion:
        """The row cut where it ended: its stop string, an end-of-turn token or its own limit
        (the batch ran to the largest limit)."""
        ids = ids[:limit]
        end = next((i for i, t in enumerate(ids) if t in self.end_ids), None)
        if end is not None:
            ids = ids[:end]  # the end-of-turn token is no token of the answer
        decode = lambda part: self.tokenizer.decode(part, skip_special_tokens=False)  # noqa: E731
        text = decode(ids)
        found = first_stop(text, stop)
        if found is None:
            return Completion(text, len(ids), STOP if end is not None else LENGTH)
        cut, hit = found
        # generate pads a row it stopped: drop the padding, so the stop's last token ends the row.
        pad, n = self.tokenizer.pad_token_id, len(ids)
        while n and ids[n - 1] == pad and pad not in self.end_ids:
            n -= 1
        return Completion(text[:cut], tokens_before(ids[:n], cut, decode), STOP, hit)
