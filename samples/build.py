#!/usr/bin/env python3
"""Build samples/*.jsonl from the shared corpus at ``<repo>/../shared/corpus``, deterministically.

    python samples/build.py [OUT_DIR]      # OUT_DIR defaults to samples/

The generated files are committed; this script only documents and reproduces them. It skips,
saying why, when ../shared is absent (a user's clone has none). Records are picked by the
corpus README's substring tag classes (open only, close only, both, neither), not by tp's own
parser, so the samples can check the parser rather than echo it. See samples/README.md.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

from constructed import constructed  # noqa: E402
from sources import BASE, CORPUS, GAMES, HARNESS, HERE, LOCAL_RL, MISGUIDED, SEED, SHORT, TEXT_FIELD, ZEROSHOT  # noqa: E402


def load(name: str) -> list[tuple[int, dict]]:
    with open(CORPUS / name, encoding="utf-8") as f:
        return [(i, json.loads(line)) for i, line in enumerate(f, 1)]


def tag_class(text) -> str:
    """The corpus README's classes: plain substring tests, no normalisation."""
    if text is None:
        return "null"
    if not text.strip():
        return "blank"
    has_open, has_close = "<think>" in text, "</think>" in text
    return {(True, True): "both", (True, False): "open_only", (False, True): "close_only"}.get(
        (has_open, has_close), "neither"
    )


def size(record: dict) -> int:
    return len(json.dumps(record, ensure_ascii=False).encode())


def short_model(record: dict) -> str:
    path = record.get("model_path_in_metadata")
    if path is None:
        return record["model"].split(" (")[0]
    if not path.startswith("."):
        return path.split("/")[-1]
    family = "llama-3b" if record["model"].startswith("llama") else "Qwen2.5-3B"
    checkpoint = re.sub(r"inter_|_qwen_3b|qwen_?3b_|llama_external_", "", path.rstrip("/").split("/")[-1])
    return f"{family}-RG-{checkpoint}"  # e.g. ../models/inter_games_qwen_3b_500 -> Qwen2.5-3B-RG-games_500


def pick(rows: list, n: int, key: str, cap: int | None = None) -> list:
    """``n`` rows chosen by a seeded shuffle (the seed names the stratum), smaller than ``cap`` bytes."""
    if cap is not None:
        rows = [r for r in rows if size(r[1]) <= cap]
    rows = sorted(rows, key=lambda r: r[0])
    random.Random(f"{SEED}:{key}").shuffle(rows)
    if len(rows) < n:
        raise SystemExit(f"build.py: stratum {key!r} has {len(rows)} rows under the size cap, {n} wanted")
    return sorted(rows[:n], key=lambda r: r[0])


def from_corpus(name: str, line: int, record: dict) -> dict:
    """The corpus record unchanged but for a short ``model`` (the corpus label kept in ``corpus_model``),
    plus ``id``, ``response`` (a copy of the file's text field) and where it came from."""
    out = {"id": f"{SHORT[name]}:{line}"}
    out.update(record)
    model = short_model(record)
    if model != record["model"]:
        out["model"] = model
        out["corpus_model"] = record["model"]
    out["response"] = record[TEXT_FIELD[name]]
    out["corpus_file"] = name
    out["corpus_line"] = line
    return out


# ------------------------------------------------------------------------------ eval_outputs


def eval_output_strata(rows: dict[str, list]) -> list[tuple[str, tuple[str, list], int, int | None]]:
    """(stratum, (file, its rows), how many, size cap in bytes): strata by model and tag class."""

    def sel(name, model=None, path=None, classes=(), thinking=None):
        out = []
        for line, r in rows[name]:
            if model is not None and r["model"] != model:
                continue
            if path is not None and r.get("model_path_in_metadata") != path:
                continue
            if classes and tag_class(r[TEXT_FIELD[name]]) not in classes:
                continue
            if thinking is not None and bool(r.get("thinking")) != thinking:
                continue
            out.append((line, r))
        return name, out

    rl_base = dict(name=LOCAL_RL, path=BASE)
    rl_games = dict(name=LOCAL_RL, path=GAMES)
    rl_llama = dict(name=LOCAL_RL, path="../utils/llama_external_maths")
    rlft = "starzmustdie/Qwen-2.5-3B-rlft (Qwen2.5-3B RL on reasoning-gym)"
    return [
        ("rl-base-both", sel(**rl_base, classes=("both",)), 40, 1800),
        ("rl-base-open", sel(**rl_base, classes=("open_only",)), 6, 4500),
        ("rl-base-neither", sel(**rl_base, classes=("neither",)), 16, 1800),
        ("rl-base-close", sel(**rl_base, classes=("close_only",)), 1, None),
        ("rl-base-blank", sel(**rl_base, classes=("blank",)), 1, None),
        ("rl-games-both", sel(**rl_games, classes=("both",)), 26, 1800),
        ("rl-games-open", sel(**rl_games, classes=("open_only",)), 4, 5500),
        ("rl-games-neither", sel(**rl_games, classes=("neither",)), 8, 1800),
        ("rl-llama-both", sel(**rl_llama, classes=("both",)), 8, 2400),
        ("rl-llama-open", sel(**rl_llama, classes=("open_only",)), 5, 3000),
        ("harness-rlft-both", sel(HARNESS, model=rlft, classes=("both",)), 24, 2600),
        ("harness-rlft-open", sel(HARNESS, model=rlft, classes=("open_only",)), 3, 9000),
        ("harness-rlft-neither", sel(HARNESS, model=rlft, classes=("neither",)), 2, 9000),
        ("harness-base", sel(HARNESS, model="Qwen/Qwen2.5-3B-Instruct"), 16, 2200),
        ("zs-r1-text", sel(ZEROSHOT, model="deepseek_deepseek-r1", classes=("neither",)), 10, 1600),
        ("zs-r1-blank", sel(ZEROSHOT, model="deepseek_deepseek-r1", classes=("blank",)), 5, 1600),
        ("zs-qwq-text", sel(ZEROSHOT, model="qwen_qwq-32b", classes=("neither",)), 7, 1600),
        ("zs-qwq-blank", sel(ZEROSHOT, model="qwen_qwq-32b", classes=("blank",)), 5, 1600),
        ("zs-o3mini", sel(ZEROSHOT, model="openai_o3-mini"), 12, 1600),
        ("zs-claude", sel(ZEROSHOT, model="anthropic_claude-3.5-sonnet"), 10, 1800),
        ("zs-gemma", sel(ZEROSHOT, model="google_gemma-3-27b-it"), 6, 1800),
        ("mg-qwen3-think", sel(MISGUIDED, model="qwen3-30b-a3b-think", thinking=True), 4, 4000),
        ("mg-r1-think", sel(MISGUIDED, model="deepseek-r1", thinking=True), 8, 4000),
        ("mg-claude-think", sel(MISGUIDED, model="claude-4-sonnet-0522-thinking", thinking=True), 8, 3000),
        ("mg-o4mini-think", sel(MISGUIDED, model="o4-mini-high-long", thinking=True), 8, 2500),
        ("mg-gemini-think", sel(MISGUIDED, model="gemini-2.5-flash-high", thinking=True), 4, 2600),
        ("mg-hermes-open", sel(MISGUIDED, model="DeepHermes-3-Mistral-24B-Pre", classes=("open_only",)), 2, 8000),
        ("mg-gpt4o", sel(MISGUIDED, model="gpt-4o", classes=("neither",)), 5, 1800),
        ("mg-qwen3-nothink", sel(MISGUIDED, model="qwen3-30b-a3b-nothink", classes=("neither",)), 4, 1800),
        ("mg-r1-distill", sel(MISGUIDED, model="deepseek-r1-distill-llama-70b", classes=("neither", "blank")), 4, 1600),
    ]


def eval_outputs(rows) -> list[dict]:
    out = []
    for key, (name, stratum), n, cap in eval_output_strata(rows):
        out += [from_corpus(name, line, r) for line, r in pick(stratum, n, key, cap)]
    return out + constructed(rows)


# ------------------------------------------------------------------------------ n=3 samples, run pair


def samples_n3(rows, n: int = 50) -> list[dict]:
    groups = defaultdict(list)
    for line, r in rows[LOCAL_RL]:
        groups[(r["source_path"], r["dataset"], r["question_index"])].append((line, r))
    full = [sorted(g, key=lambda x: x[1]["completion_index"]) for g in groups.values()]
    full = [g for g in full if [r["completion_index"] for _, r in g] == [0, 1, 2]]
    full = [g for g in full if sum(size(r) - len(r["question"]) for _, r in g) + len(g[0][1]["question"]) <= 7000]
    full.sort(key=lambda g: g[0][0])
    random.Random(f"{SEED}:n3").shuffle(full)
    mixed = [g for g in full if len({tag_class(r["full_model_response"]) for _, r in g}) > 1]
    same = [g for g in full if g not in mixed]
    chosen = sorted(mixed[: n // 2] + same[: n - min(len(mixed), n // 2)], key=lambda g: g[0][0])
    out = []
    for g in chosen:
        first = g[0][1]
        out.append(
            {
                "id": f"rg-n3-{_digest(first['source_path'], first['dataset'], first['question_index'])}",
                "model": short_model(first),
                "dataset": first["dataset"],
                "question": first["question"],
                "gold": first["gold"],
                "response": [r["full_model_response"] for _, r in g],
                "model_answer": [r["model_answer"] for _, r in g],
                "score": [r["score"] for _, r in g],
                "completion_index": [r["completion_index"] for _, r in g],
                "question_index": first["question_index"],
                "max_tokens": first["max_tokens"],
                "model_path_in_metadata": first["model_path_in_metadata"],
                "corpus_model": first["model"],
                "source_repo": first["source_repo"],
                "source_path": first["source_path"],
                "source_commit": first["source_commit"],
                "corpus_file": LOCAL_RL,
                "corpus_line": [line for line, _ in g],
            }
        )
    return out


def run_pair(rows, n: int = 100) -> tuple[list[dict], list[dict]]:
    """The same questions answered by the base model (run A) and its games-RL checkpoint (run B)."""
    by_q: dict[str, dict[str, tuple]] = defaultdict(dict)
    for line, r in rows[LOCAL_RL]:
        path = r["model_path_in_metadata"]
        if path in (BASE, GAMES):
            best = by_q[r["question"]].get(path)
            if best is None or r["completion_index"] < best[1]["completion_index"]:
                by_q[r["question"]][path] = (line, r)
    shared = [
        (q, v[BASE], v[GAMES]) for q, v in by_q.items() if len(v) == 2 and size(v[BASE][1]) + size(v[GAMES][1]) <= 6000
    ]
    shared.sort(key=lambda x: x[1][0])
    random.Random(f"{SEED}:runs").shuffle(shared)
    chosen = sorted(shared[:n], key=lambda x: x[1][0])
    run_a, run_b = [], []
    for q, (la, ra), (lb, rb) in chosen:
        qid = f"rg-{ra['dataset']}-{_digest(q)}"
        for run, line, r in ((run_a, la, ra), (run_b, lb, rb)):
            rec = from_corpus(LOCAL_RL, line, r)
            rec["id"] = qid
            run.append(rec)
    return run_a, run_b


def _digest(*parts) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:10]


def write(folder: Path, name: str, records: list[dict]) -> None:
    path = folder / name
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(records)} records, {path.stat().st_size:,} bytes")


def main(argv: list[str]) -> int:
    if not CORPUS.is_dir():
        print(f"build.py: skipped: no corpus at {CORPUS} (the samples are committed; nothing to rebuild)")
        return 0
    out = Path(argv[0]) if argv else HERE
    rows = {name: load(name) for name in TEXT_FIELD}
    write(out, "eval_outputs.jsonl", eval_outputs(rows))
    write(out, "eval_samples_n3.jsonl", samples_n3(rows))
    run_a, run_b = run_pair(rows)
    write(out, "run_a.jsonl", run_a)
    write(out, "run_b.jsonl", run_b)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
