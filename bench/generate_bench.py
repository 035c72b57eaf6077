#!/usr/bin/env python3
"""tp generate's cost of hybrid decoding: ``python bench/generate_bench.py`` (needs the [generate] extra).

On the transformers backend with a tiny random Llama and a LoRA adapter (as tests/test_generate.py
builds them), for the same prompts and the same token counts (T reasoning + A answer):

  single   one phase: the base model continues each prompt for T + A tokens
  hybrid   tp generate --hybrid: T tokens by the base model (budget cut), the close, A by the adapter

The ratio hybrid / single is the price of the second phase's prefill and the adapter. It also
prints what each phase asked of the engine (``Generator.cost``): prompt tokens prefilled and
tokens decoded. Phase 2 prefills prompt + reasoning again, and on vLLM too: its prefix cache
keys blocks by LoRA adapter, so the adapter's phase 2 reuses none of the base model's phase 1.
Keeps the best of ``--rounds`` runs; writes bench/data/generate_results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--think", type=int, default=64)
    parser.add_argument("--answer", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import peft
    import tiny_chat
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from thinkpack_cli.backends import EngineOptions
    from thinkpack_cli.backends.transformers import TransformersBackend
    from thinkpack_cli.generate import GenerateOptions, Generator

    tok = tiny_chat.tokenizer(tiny_chat.PREFIXED)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # a zero logit for </think> never wins over 400 random ones: the budget cuts every sample
        model.lm_head.weight[tok.convert_tokens_to_ids("</think>")] = 0
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(f"{tmp}/model")
        tok.save_pretrained(f"{tmp}/model")
        lora = peft.LoraConfig(
            r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False
        )
        peft.get_peft_model(model, lora).save_pretrained(f"{tmp}/adapter")
        # No end of turn: every sample runs to its limits, so both sides generate the same token counts.
        torch.set_num_threads(1)  # other processes on a small machine: one thread keeps the timings steady
        backend = TransformersBackend(f"{tmp}/model", f"{tmp}/adapter", EngineOptions(batch_size=args.prompts))
        backend.end_ids = set()
        prompts = [
            f"<|im_start|>user\nWhat is {i} + {i}?<|im_end|>\n<|im_start|>assistant\n<think>\n"
            for i in range(args.prompts)
        ]
        hybrid = Generator(
            backend, GenerateOptions(hybrid=True, max_think_tokens=args.think, max_answer_tokens=args.answer)
        )

        def single():
            return backend.complete(
                prompts,
                [args.think + args.answer] * len(prompts),
                adapter=False,
                stop=[],
                sampling=hybrid.options.think,
            )

        def best(run) -> float:
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            return min(times)

        one = single()
        assert all(c.tokens == args.think + args.answer for c in one)
        assert all(
            (r["think_tokens"], r["answer_tokens"]) == (args.think, args.answer)
            for r in hybrid([{"prompt": p} for p in prompts])
        ), "a sample stopped early: unequal token counts"
        cost = {
            phase: dict(vars(c)) for phase, c in hybrid.cost.items()
        }  # one run's, copied before the timed runs add to it
        cost["single"] = {
            "calls": 1,
            "prompts": len(one),
            "prefilled": sum(c.prompt_tokens for c in one),
            "decoded": sum(c.tokens for c in one),
        }
        single_s = best(single)
        hybrid_s = best(lambda: hybrid([{"prompt": p} for p in prompts]))
    result = {
        "prompts": args.prompts,
        "think_tokens": args.think,
        "answer_tokens": args.answer,
        "single_s": round(single_s, 3),
        "hybrid_s": round(hybrid_s, 3),
        "ratio": round(hybrid_s / single_s, 3),
        "cost": cost,
    }
    print(
        f"tp generate, transformers, tiny Llama, {args.prompts} prompts x ({args.think} + {args.answer}) tokens: "
        f"single {single_s:.2f} s, hybrid {hybrid_s:.2f} s, ratio {hybrid_s / single_s:.2f}x"
    )
    for phase, c in (
        ("hybrid phase 1 (base)", cost["think"]),
        ("hybrid phase 2 (adapter)", cost["answer"]),
        ("single", cost["single"]),
    ):
        print(f"  {phase}: {c['calls']} calls, {c['prefilled']:,} prompt tokens prefilled, {c['decoded']:,} decoded")
    extra = cost["think"]["prefilled"] + cost["answer"]["prefilled"] - cost["single"]["prefilled"]
    print(
        f"  hybrid prefills {extra:,} tokens more than single ({extra / args.prompts:.0f} per sample: "
        "prompt + reasoning + close again, under the adapter)"
    )
    out = ROOT / "bench" / "data"
    out.mkdir(parents=True, exist_ok=True)
    (out / "generate_results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
