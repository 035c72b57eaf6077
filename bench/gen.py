"""Deterministic synthetic eval outputs for the benchmark: bench/data/data.jsonl.

Reasoning texts are slices, at random offsets and lengths, of a few MB of
generated English-like steps (arithmetic, algebra, unicode maths, some CJK and
emoji, occasional inline code, paragraph breaks). Slicing keeps generation to a
few seconds for hundreds of MB while every record still differs.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import orjson

VERSION = 1  # bump whenever the output changes, so stale files are regenerated
SEED = 20240611
MODELS = ("qwen3-8b", "deepseek-r1-distill-qwen-7b", "qwq-32b", "phi-4-reasoning", "olmo-3-7b-think")
BENCHMARKS = ("aime24", "math500", "gsm8k", "amc23")
# Status mix of real reasoning-model evals: mostly closed blocks, some cut off at max_tokens.
MIX = (("valid", 0.85), ("empty", 0.03), ("truncated", 0.07), ("missing", 0.05))
MIN_CHARS, MAX_CHARS = 200, 8000


def _steps(rng: random.Random):
    """One reasoning step at a time, each a different kind of sentence."""
    r = rng.randint
    kinds = [
        lambda: f"Let me compute {(a := r(2, 99))} × {(b := r(2, 99))} = {a * b}.",
        lambda: f"So x^2 + {(b := r(1, 20))}x + {(c := r(1, 50))} = 0, and the discriminant is {b * b - 4 * c}.",
        lambda: f"Wait, that doesn't look right. Let me re-check the step where I divided by {r(2, 12)}.",
        lambda: f"The sum from k=1 to {(n := r(5, 200))} of k is {n}({n}+1)/2 = {n * (n + 1) // 2}.",
        lambda: (
            f"Hmm, √{(s := r(2, 500))} ≈ {math.sqrt(s):.4f}, and π·r² with r = {(q := r(1, 30))} gives about {math.pi * q * q:.2f}."
        ),
        lambda: f"Therefore the remainder of {(a := r(100, 99999))} mod {(m := r(3, 97))} is {a % m}.",
        lambda: f"Alternatively, as n → ∞ the ratio a_(n+1)/a_n tends to {rng.random() * 3:.3f}.",
        lambda: (
            f"Let y be the unknown. Then {(a := r(2, 9))}y − {(b := r(1, 40))} = {(c := r(1, 90))}, so y = {b + c}/{a}."
        ),
        lambda: f"I think the answer might be {r(0, 999)}, but let me verify that carefully before committing.",
        lambda: f"Check: {(a := r(1, 999))} + {(b := r(1, 999))} = {a + b} ✓",
        lambda: f"By Héron's formula with sides {r(3, 9)}, {r(4, 12)}, {r(5, 15)}, the area is √(s(s−a)(s−b)(s−c)).",
        lambda: f"Step {r(1, 12)}: substitute back into the original equation and simplify both sides.",
        lambda: "Okay, so the problem is asking for the number of ordered pairs that satisfy both conditions.",
        lambda: f"Since gcd({(a := r(2, 60))}, {(b := r(2, 60))}) = {math.gcd(a, b)}, the fraction reduces.",
        lambda: f"Using the identity sin²θ + cos²θ = 1 with θ = {r(1, 89)}°, we get cos θ ≈ {rng.random():.4f}.",
        lambda: "Hmm, maybe I should try a smaller case first to see the pattern.",
        lambda: f"The probability is {(a := r(1, 20))}/{a + r(1, 30)}, which is less than ½.",
        lambda: f"So the total is ∑ = {r(100, 100000)} — let me double-check the edge cases n = 0 and n = 1.",
    ]
    rare = [
        lambda: f"Using `pow({r(2, 9)}, {r(10, 99)}, {r(7, 97)})` gives the same residue.",
        lambda: "首先，我们考虑 n 为偶数的情况，然后再看奇数。",
        lambda: "That's a neat trick 🙂 but it only works for primes.",
        lambda: f"Über-check: the café bill of €{r(10, 99)}.{r(10, 99)} splits evenly — naïve but fine.",
    ]
    while True:
        yield rng.choice(rare)() if rng.random() < 0.02 else rng.choice(kinds)()


def _corpus(rng: random.Random, chars: int) -> str:
    parts, size, steps = [], 0, _steps(rng)
    while size < chars:
        step = next(steps)
        parts.append(step)
        parts.append(rng.choices(("  ", "\n", "\n\n"), (6, 3, 1))[0])
        size += len(step) + 2
    return "".join(parts)


def _slice(corpus: str, start: int, length: int) -> str:
    """About ``length`` characters from ``start``, cut at spaces so words stay whole."""
    begin = corpus.find(" ", start, start + 40) + 1 or start
    end = corpus.rfind(" ", begin, begin + length) if length > 40 else -1
    return corpus[begin : end if end > begin else begin + length].strip()


def _question(rng: random.Random, corpus: str) -> str:
    n = rng.randint(2, 2000)
    head = rng.choice(
        (
            f"Find the number of positive integers n ≤ {n} such that",
            f"Let S be the set of all real x with |x − {n}| < {rng.randint(1, 99)}. Compute",
            f"A bag holds {n} marbles, {rng.randint(1, n)} of them red. Determine",
            f"In triangle ABC, AB = {rng.randint(3, 30)}, BC = {rng.randint(3, 30)}. Find",
        )
    )
    target = rng.randint(100, 300)
    start = rng.randrange(len(corpus) - 400)
    body = _slice(corpus, start, max(0, target - len(head) - 45)).replace("\n", " ")
    return f"{head} {body} Give your final answer as an integer."


def _answer(rng: random.Random, corpus: str, value: int) -> str:
    start = rng.randrange(len(corpus) - 400)
    summary = _slice(corpus, start, rng.randint(40, 300))
    if rng.random() < 0.6:
        return f"{summary}\n\n**Final answer.** The value is $\\boxed{{{value}}}$."
    return f"{summary}\n\nThe answer is {value}."


def generate(path: Path, records: int, seed: int = SEED) -> None:
    """Write ``records`` JSONL records to ``path`` (same seed, same bytes)."""
    rng = random.Random(seed)
    corpus = _corpus(rng, 4 << 20)
    statuses = rng.choices([s for s, _ in MIX], [w for _, w in MIX], k=records)
    span = math.log(MAX_CHARS / MIN_CHARS)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb", buffering=8 << 20) as f:
        for i, status in enumerate(statuses):
            gold = rng.randint(0, 999)
            given = gold if rng.random() < 0.6 else rng.randint(0, 999)
            length = int(MIN_CHARS * math.exp(rng.random() * span))  # log-uniform 200..8000
            start = rng.randrange(len(corpus) - length)
            reasoning = _slice(corpus, start, length)
            answer = _answer(rng, corpus, given)
            if status == "valid":
                response = f"<think>\n{reasoning}\n</think>\n\n{answer}"
            elif status == "empty":
                response = f"<think>\n\n</think>\n\n{answer}"
            elif status == "truncated":
                response = f"<think>\n{reasoning}"
            else:  # a model that answered without any block
                response = f"{reasoning}\n\n{answer}"
            bench = BENCHMARKS[i % len(BENCHMARKS)]
            record = {
                "id": f"{bench}-{i:07d}",
                "model": MODELS[rng.randrange(len(MODELS))],
                "benchmark": bench,
                "sample": rng.randrange(8),
                "prompt": _question(rng, corpus),
                "gold": str(gold),
                "response": response,
                "finish_reason": "length" if status == "truncated" else "stop",
                "temperature": 0.6,
            }
            f.write(orjson.dumps(record) + b"\n")
    os.replace(tmp, path)


def ensure(data_dir: Path, records: int) -> tuple[Path, bool]:
    """The data file, generated unless a stamp says an identical one is there."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path, stamp_path = data_dir / "data.jsonl", data_dir / "data.stamp.json"
    stamp = {"version": VERSION, "seed": SEED, "records": records}
    try:
        old = json.loads(stamp_path.read_text())
        if old.pop("bytes") == path.stat().st_size and old == stamp:
            return path, False
    except (OSError, ValueError, KeyError):
        pass
    generate(path, records)
    stamp_path.write_text(json.dumps({**stamp, "bytes": path.stat().st_size}))
    return path, True
