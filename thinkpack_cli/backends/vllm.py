"""The vLLM backend: offline ``LLM`` with LoRA and prefix caching, one engine call per phase step.

Not run on a GPU here (vLLM cannot be installed on the machines this was written on): it is
right by construction, checked by reading vLLM's source, and every decision that does not need
vLLM to run is a function below, tested without it. What was read, and at which commit:

- ``vllm/config/lora.py`` @a78dc92f: ``max_lora_rank`` is one of 1, 8, 16, 32, 64, 128, 256,
  320, 512 (``lora_rank``); ``vllm/lora/peft_helper.py`` @02143692: DoRA and
  ``modules_to_save`` are refused, but only when the adapter first loads (``check_adapter``,
  and the adapter is loaded with ``add_lora`` as the engine starts, not after phase 1).
- ``vllm/entrypoints/llm.py``: ``generate`` takes ``{"prompt_token_ids": …}`` prompts; a text
  prompt is tokenized with special tokens added, a second BOS before a rendered template's own
  (``prompt_ids``).
- ``vllm/outputs.py`` @003d3ee2 and ``vllm/v1/engine/detokenizer.py`` @e372329d:
  ``CompletionOutput.token_ids`` keep the token that ended the turn (EOS or a stop token id)
  though ``text`` leaves it out, and on a stop string they hold its tokens (``generated_tokens``).
- ``vllm/v1/engine/input_processor.py`` @009daaee: a prompt of ``max_model_len`` tokens or
  more raises for the whole ``generate`` call; the v1 scheduler ends a request at
  ``max_model_len`` with finish_reason "length" (``backends.room``: such prompts are answered
  alone, with a full context).
- ``vllm/sampling_params.py`` @00388f65: temperature in [0, 2] and top_p in (0, 1]
  (``backends.Sampling``); its ``thinking_token_budget`` is a maximum only.
- ``vllm/v1/core/kv_cache_utils.py`` @bbf906a8: a cached block's hash holds the LoRA name, so
  the adapter's phase 2 reuses none of the base model's phase-1 blocks and prefills prompt +
  reasoning again (as it must: the adapter changes every layer's keys and values).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import UsageError
from . import (
    CONTEXT,
    LENGTH,
    STOP,
    TAKES,
    Completion,
    EngineOptions,
    Sampling,
    fields_given,
    finish_within,
    room,
    tokens_before,
)

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's MaxLoRARanks
ADAPTER_NAME = "adapter"


def adapter_config(adapter: str) -> dict:
    """The adapter's ``adapter_config.json``, checked for what vLLM refuses."""
    path = os.path.join(adapter, "adapter_config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--adapter {adapter}: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    check_adapter(config, adapter)
    return config


def check_adapter(config: dict, adapter: str) -> None:
    """vLLM loads neither DoRA adapters nor adapters that save whole modules: say so before any work."""
    if config.get("use_dora"):
        raise UsageError(
            f"--adapter {adapter}: a DoRA adapter (use_dora); vLLM does not load DoRA: "
            "use --backend transformers, or merge it into the model"
        )
    if config.get("modules_to_save"):
        raise UsageError(
            f"--adapter {adapter}: it saves whole modules ({', '.join(config['modules_to_save'])}); "
            "vLLM loads only LoRA weights: use --backend transformers, or merge it into the model"
        )


def lora_rank(config: dict) -> int:
    """The ``max_lora_rank`` the adapter needs: the largest rank it declares (``r`` or any of its
    ``rank_pattern``), rounded up to a value vLLM accepts."""
    ranks = [config.get("r"), *(config.get("rank_pattern") or {}).values()]
    ranks = [r for r in ranks if isinstance(r, int) and not isinstance(r, bool)]
    if not ranks:
        raise UsageError("the adapter's adapter_config.json gives no rank (r)")
    largest = max(ranks)
    allowed = next((r for r in LORA_RANKS if r >= largest), None)
    if allowed is None:
        raise UsageError(f"the adapter's rank is {largest}; vLLM serves ranks up to {LORA_RANKS[-1]}")
    return allowed


def engine_arguments(model: str, config: dict | None, options: EngineOptions = EngineOptions()) -> dict:
    """``LLM(...)``'s keyword arguments: the model, prefix caching, the adapter's LoRA settings and the
    engine options given that vLLM takes (the rest: vLLM's defaults)."""
    arguments = {"model": model, "enable_prefix_caching": True}
    if config is not None:
        arguments |= {"enable_lora": True, "max_lora_rank": lora_rank(config), "max_loras": 1}
    return arguments | {name: getattr(options, name) for name in fields_given(options) if name in TAKES["vllm"]}


def prompt_ids(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Rendered prompts as token ids, without the special tokens a tokenizer adds: the template's
    own BOS is in the text already."""
    return [tokenizer.encode(p, add_special_tokens=False) for p in prompts]


def generated_tokens(token_ids: list[int], text: str, finish_reason: str | None, stop_reason: Any, decode) -> int:
    """The tokens a completion counts, as every backend counts them: without the token that ended the
    turn, and on a stop string only those before it."""
    if isinstance(stop_reason, str):
        return tokens_before(list(token_ids), len(text), decode)
    if finish_reason == "stop" and token_ids:  # EOS, or a stop token id: in token_ids, not in text
        return len(token_ids) - 1
    return len(token_ids)


class VllmBackend:
    def __init__(
        self, model: str, adapter: str | None = None, options: EngineOptions = EngineOptions(), **llm_arguments: Any
    ):
        """``llm_arguments``: more of ``LLM``'s keyword arguments, for a caller in Python (``enforce_eager``)."""
        options.check("vllm")
        config = adapter_config(adapter) if adapter is not None else None  # before the minutes vLLM takes to start
        arguments = engine_arguments(model, config, options) | llm_arguments
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise UsageError("--backend vllm needs vLLM: pip install 'thinkpack-cli[vllm]'") from None
        self.SamplingParams = SamplingParams
        self.llm = LLM(**arguments)
        self.lora = None
        if adapter is not None:
            self.lora = LoRARequest(ADAPTER_NAME, 1, os.path.abspath(adapter))
            try:  # load it now: vLLM would otherwise read it at its first request, after phase 1
                self.llm.llm_engine.add_lora(self.lora)
            except Exception as e:  # whatever vLLM's loader raised (its types differ by version): one line, exit 2
                raise UsageError(f"--adapter {adapter}: vLLM cannot load it: {e}") from None
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self.tokenizer = self.llm.get_tokenizer()
        self.has_adapter = adapter is not None

    def complete(self, prompts, max_tokens, *, adapter, stop, sampling: Sampling):
        ids = prompt_ids(self.tokenizer, prompts)
        limits = room([len(i) for i in ids], max_tokens, self.max_model_len)
        send = [i for i, limit in enumerate(limits) if limit > 0]
        # A seed per prompt, offset by its place: copies of one prompt (--n) must differ, reproducibly.
        params = [
            self.SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=limits[i],
                stop=stop or None,
                skip_special_tokens=False,
                seed=None if sampling.seed is None else sampling.seed + i,
            )
            for i in send
        ]
        results = (
            self.llm.generate(
                [{"prompt_token_ids": ids[i]} for i in send],
                params,
                lora_request=self.lora if adapter else None,
                use_tqdm=False,
            )
            if send
            else []
        )
        out = [Completion("", 0, CONTEXT, None, len(i)) for i in ids]
        decode = lambda part: self.tokenizer.decode(part, skip_special_tokens=False)  # noqa: E731
        for i, result in zip(send, results):
            o = result.outputs[0]
            stopped_at = o.stop_reason if isinstance(o.stop_reason, str) else None
            finish = finish_within(LENGTH if o.finish_reason == "length" else STOP, limits[i], max_tokens[i])
            out[i] = Completion(
                o.text,
                generated_tokens(o.token_ids, o.text, o.finish_reason, o.stop_reason, decode),
                finish,
                stopped_at,
                len(ids[i]),
            )
        return out
