"""The vLLM backend: offline ``LLM`` with LoRA and prefix caching, one engine call per phase step.

Prefix caching is what makes hybrid decoding cheap: the answer phase's prompt is the think
phase's prompt plus its output, so its prefill is mostly cache hits.
"""

from __future__ import annotations

import json
import os

from ..errors import UsageError
from . import Completion, Sampling, tokens_before


class VllmBackend:
    def __init__(self, model: str, adapter: str | None = None, **engine):
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise UsageError("--backend vllm needs vLLM: pip install 'thinkpack-cli[vllm]'") from None
        self.SamplingParams = SamplingParams
        lora = {}
        self.lora = None
        if adapter is not None:
            # vLLM reserves LoRA memory for a fixed rank (16 by default): give it the adapter's own.
            with open(os.path.join(adapter, "adapter_config.json")) as f:
                rank = json.load(f)["r"]
            lora = {"enable_lora": True, "max_lora_rank": max(rank, 8), "max_loras": 1}
            self.lora = LoRARequest("adapter", 1, adapter)
        self.llm = LLM(model=model, enable_prefix_caching=True, **lora, **engine)
        self.tokenizer = self.llm.get_tokenizer()
        self.has_adapter = adapter is not None

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        # A seed per prompt, offset by its place: copies of one prompt (--n) must differ, reproducibly.
        params = [self.SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=limit,
                                      stop=stop or None, skip_special_tokens=False,
                                      seed=None if sampling.seed is None else sampling.seed + i)
                  for i, limit in enumerate(max_tokens)]
        results = self.llm.generate(prompts, params, lora_request=self.lora if adapter else None, use_tqdm=False)
        out = []
        for result in results:
            o = result.outputs[0]
            stopped_at = o.stop_reason if isinstance(o.stop_reason, str) else None
            tokens = len(o.token_ids)
            if stopped_at is not None:  # token_ids hold the stop string's tokens too: count those before it
                ids = list(o.token_ids)
                tokens = tokens_before([self.tokenizer.decode(ids[:k + 1]) for k in range(len(ids))], len(o.text))
            out.append(Completion(o.text, tokens, "length" if o.finish_reason == "length" else "stop", stopped_at))
        return out
