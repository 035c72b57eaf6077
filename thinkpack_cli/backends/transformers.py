"""The transformers backend: ``AutoModelForCausalLM`` plus a peft adapter, CPU or GPU.

Batches are left-padded so every row's continuation starts at the same column; the adapter is
switched off with peft's ``disable_adapter()`` for base-model calls, so one copy of the
weights serves both phases.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import UsageError
from . import Completion, Sampling, tokens_before


class TransformersBackend:
    def __init__(self, model: str, adapter: str | None = None, *, batch_size: int = 16, gguf_file: str | None = None,
                 device: str | None = None, seed: int | None = None):
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise UsageError("--backend transformers needs torch: pip install 'thinkpack-cli[generate]'") from None
        hf_logging.disable_progress_bar()  # tp shows its own progress; loading bars would interleave with it
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(model, **extra)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **extra).to(self.device).eval()
        if adapter is not None:
            try:
                from peft import PeftModel
            except ImportError:
                raise UsageError("--adapter needs peft: pip install 'thinkpack-cli[generate]'") from None
            self.model = PeftModel.from_pretrained(self.model, adapter).eval()
        self.has_adapter = adapter is not None
        self.batch_size = batch_size
        if seed is not None:
            torch.manual_seed(seed)
        # A turn ends on the tokenizer's end-of-sequence token or the model's own (chat models set several).
        ends = self.model.generation_config.eos_token_id
        self.end_ids = set(ends if isinstance(ends, list) else [ends] if ends is not None else [])
        self.end_ids.add(self.tokenizer.eos_token_id)

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        out = []
        for lo in range(0, len(prompts), self.batch_size):
            out += self._batch(prompts[lo:lo + self.batch_size], max_tokens[lo:lo + self.batch_size], adapter, stop,
                               sampling)
        return out

    def _batch(self, prompts, limits, adapter, stop, sampling):
        torch = self.torch
        # Prompts are chat-template text that already holds its special tokens.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = sampling.temperature > 0
        switch = self.model.disable_adapter() if self.has_adapter and not adapter else contextlib.nullcontext()
        with torch.inference_mode(), switch:
            generated = self.model.generate(
                **enc, max_new_tokens=max(limits), do_sample=sample, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=sorted(self.end_ids), stop_strings=stop or None, tokenizer=self.tokenizer,
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
            ids = ids[:end]
        decode = lambda part: self.tokenizer.decode(part, skip_special_tokens=False)  # noqa: E731
        text = decode(ids)
        if any(s in text for s in stop):
            prefixes = [decode(ids[:k]) for k in range(1, len(ids) + 1)]
            for k, head in enumerate(prefixes):  # the first token that completes a stop string
                hit = next((s for s in stop if s in head), None)
                if hit is not None:
                    cut = head.index(hit)
                    return Completion(head[:cut], tokens_before(prefixes, cut), "stop", hit)
        return Completion(text, len(ids), "stop" if end is not None else "length")

