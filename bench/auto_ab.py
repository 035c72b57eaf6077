#!/usr/bin/env python3
"""``auto``'s split on real mixed texts, this tree against another revision, in paired alternating passes.

  .venv/bin/python bench/auto_ab.py [--base ba6722d] [--rounds 21]

The texts are the raw model outputs of the shared corpus (``full_model_response``, ``response``: 10,358 texts
of three files: R1-Zero-style ``<think>…</think><answer>…``, no tags at all, math harness outputs). The base
revision's package is extracted under another name and imported beside this tree's, in one process; each
round times one pass of each over every text, in alternating order (AB, BA, …), so drift on a shared machine
hits both sides alike. Printed: each side's median and spread (min–max) over the rounds, and the median of
the per-round ratios. Not part of ``make bench``: it needs ../shared and git.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
FILES = (
    "reasoning_gym_eval_local_rl.jsonl",
    "reasoning_gym_eval_math_harness.jsonl",
    "reasoning_gym_eval_zeroshot_api.jsonl",
)
CORPUS_TEXT_FIELDS = ("full_model_response", "response")
BASE_PACKAGE = "thinkpack_base"


def corpus_texts() -> list[str]:
    texts = []
    for name in FILES:
        with open(CORPUS / name, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                text = next((record[k] for k in CORPUS_TEXT_FIELDS if isinstance(record.get(k), str)), None)
                if text is not None:
                    texts.append(text)
    return texts


def base_split(revision: str, folder: str):
    """``AutoFormat().split`` of ``revision``, imported as its own package (its imports are relative)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", f"--prefix={BASE_PACKAGE}/", f"{revision}:thinkpack_cli"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    sys.path.insert(0, folder)
    return importlib.import_module(f"{BASE_PACKAGE}.formats").AutoFormat().split


def one_pass(split, texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        split(text)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="ba6722d", help="the revision to compare with (default: ba6722d)")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"no corpus at {CORPUS}")
    from thinkpack_cli.formats import AutoFormat

    texts = corpus_texts()
    with tempfile.TemporaryDirectory(prefix="tp-auto-ab-") as folder:
        sides = {"base": base_split(args.base, folder), "tree": AutoFormat().split}
        for split in sides.values():  # warm both (regex caches, allocator)
            one_pass(split, texts)
        times: dict[str, list[float]] = {"base": [], "tree": []}
        for i in range(args.rounds):
            for name in ("base", "tree") if i % 2 == 0 else ("tree", "base"):
                times[name].append(one_pass(sides[name], texts))
    ratios = [t / b for t, b in zip(times["tree"], times["base"])]
    print(f"auto split of {len(texts):,} corpus texts, {args.rounds} rounds of one pass per side, alternating order")
    for name, label in (("base", args.base), ("tree", "this tree")):
        values = times[name]
        print(
            f"  {label:>10}: median {statistics.median(values):6.1f} ms  (min {min(values):.1f}, max {max(values):.1f})"
        )
    print(
        f"  this tree / {args.base}: median ratio {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
