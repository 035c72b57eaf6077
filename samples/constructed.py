"""The hand-built records of the samples: each status and edge case the corpus lacks, written down."""

from __future__ import annotations

import random
import re
from collections import defaultdict

from sources import BASE, LOCAL_RL, SEED

_THINK = re.compile(r"^<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*$", re.S)


def constructed(rows: dict[str, list]) -> list[dict]:
    """The formats the corpus lacks, built by re-wrapping real reasoning/answer pairs of LOCAL_RL
    (Qwen2.5-3B-Instruct, prompted <think>/<answer> format) in another model family's delimiters."""
    pool = []
    for line, r in rows[LOCAL_RL]:
        m = _THINK.match(r["full_model_response"])
        if r.get("model_path_in_metadata") == BASE and m and len(r["question"]) < 700 and len(m[1]) < 900:
            pool.append((line, r, m[1].strip(), m[2].strip()))
    random.Random(f"{SEED}:constructed").shuffle(pool)
    pool = iter(pool)

    def cut(reasoning: str) -> str:  # a generation stopped mid-trace
        words = reasoning.split(" ")
        return " ".join(words[: max(3, len(words) // 2)])

    # (kind, model label, response(reasoning, answer), extra fields, what was done)
    kinds = [
        *[
            (
                "bracket-valid",
                "constructed/magistral-style",
                lambda R, A: f"[THINK]{R}[/THINK]\n\n{A}",
                {},
                "[THINK]reasoning[/THINK] answer (Magistral)",
            )
        ]
        * 4,
        (
            "bracket-truncated",
            "constructed/magistral-style",
            lambda R, A: f"[THINK]{cut(R)}",
            {},
            "[THINK] opened, reasoning cut mid-way, never closed (Magistral)",
        ),
        *[
            (
                "harmony-valid",
                "constructed/gpt-oss-style",
                lambda R, A: (
                    f"<|channel|>analysis<|message|>{R}<|end|><|start|>assistant<|channel|>final<|message|>{A}<|return|>"
                ),
                {},
                "harmony analysis channel, then final channel (gpt-oss, special tokens kept)",
            )
        ]
        * 3,
        (
            "harmony-truncated",
            "constructed/gpt-oss-style",
            lambda R, A: f"<|channel|>analysis<|message|>{cut(R)}",
            {},
            "harmony analysis channel cut mid-way (gpt-oss)",
        ),
        *[
            (
                "harmony-stripped",
                "constructed/gpt-oss-style",
                lambda R, A: f"analysis{R}assistantfinal{A}",
                {},
                "harmony decoded with skip_special_tokens=True: analysis…assistantfinal…",
            )
        ]
        * 2,
        *[
            (
                "seed-valid",
                "constructed/seed-oss-style",
                lambda R, A: f"<seed:think>{R}</seed:think>\n{A}",
                {},
                "<seed:think>…</seed:think> (ByteDance Seed-OSS)",
            )
        ]
        * 3,
        *[
            (
                "prefixed-prompt",
                "constructed/r1-distill-style",
                lambda R, A: f"{R}\n</think>\n\n{A}",
                {"prompt": True},
                "close-only output; `prompt` = the R1-Distill generation prompt ending in <think>\\n",
            )
        ]
        * 2,
        *[
            (
                "prefixed-inferred",
                "constructed/r1-distill-style",
                lambda R, A: f"{R}\n</think>\n\n{A}",
                {},
                "close-only output, no prompt field (prefixed inferred from the close)",
            )
        ]
        * 2,
        (
            "prefixed-truncated",
            "constructed/r1-distill-style",
            lambda R, A: cut(R),
            {"prompt": True},
            "no tag at all, reasoning cut mid-way; the prompt opened the block",
        ),
        (
            "prefixed-empty",
            "constructed/r1-distill-style",
            lambda R, A: f"\n</think>\n\n{A}",
            {"prompt": True},
            "close-only output with nothing before the close",
        ),
        *[
            (
                "empty-think",
                "constructed/qwen3-nothink-style",
                lambda R, A: f"<think>\n\n</think>\n\n{A}",
                {},
                "<think>\\n\\n</think> then the answer (Qwen3 with thinking off)",
            )
        ]
        * 3,
        *[
            (
                "uppercase",
                "constructed/uppercase-tags",
                lambda R, A: f"<THINK>{R}</THINK>\n{A}",
                {},
                "<THINK>…</THINK> in upper case",
            )
        ]
        * 2,
        (
            "fenced-tag",
            "constructed/plain-answer",
            lambda R, A: (
                "To drop the reasoning, keep only what follows the closing tag:\n\n```python\n"
                'answer = text.split("</think>")[-1].strip()\n```\n\nA raw output then looks like:\n\n'
                "```\n<think>\nreasoning\n</think>\nfinal answer\n```\n\n" + A
            ),
            {},
            "a plain answer whose tags are all inside closed code fences",
        ),
        (
            "inline-tag",
            "constructed/plain-answer",
            lambda R, A: f"Put the reasoning between `<think>` and `</think>`, then the answer. Here: {A}",
            {},
            "a plain answer whose tags are all inline code",
        ),
        *[
            (
                "split-stop",
                "constructed/split-by-server",
                lambda R, A: A,
                {"reasoning_content": "R", "finish_reason": "stop"},
                "already split: reasoning_content + answer, finish_reason stop (vLLM/DeepSeek API)",
            )
        ]
        * 2,
        (
            "split-length",
            "constructed/split-by-server",
            lambda R, A: "",
            {"reasoning_content": "cut", "finish_reason": "length"},
            "already split, reasoning cut at the token limit, empty answer, finish_reason length",
        ),
        (
            "split-empty",
            "constructed/split-by-server",
            lambda R, A: A,
            {"reasoning_content": "", "finish_reason": "stop"},
            "already split with an empty reasoning_content",
        ),
    ]
    out, counts = [], defaultdict(int)
    for kind, model, make, extra, note in kinds:
        line, r, reasoning, answer = next(pool)
        counts[kind] += 1
        rec = {
            "id": f"constructed:{kind}-{counts[kind]}",
            "model": model,
            "dataset": r["dataset"],
            "question": r["question"],
            "gold": r["gold"],
        }
        if extra.get("prompt"):
            rec["prompt"] = f"<｜begin▁of▁sentence｜><｜User｜>{r['question']}<｜Assistant｜><think>\n"
        rec["response"] = make(reasoning, answer)
        if "reasoning_content" in extra:
            rc = extra["reasoning_content"]
            rec["reasoning_content"] = {"R": reasoning, "cut": cut(reasoning), "": ""}[rc]
            rec["finish_reason"] = extra["finish_reason"]
        rec.update(
            constructed=True,
            construction=kind,
            construction_note=note,
            source_repo=r["source_repo"],
            source_path=r["source_path"],
            source_commit=r["source_commit"],
            corpus_file=LOCAL_RL,
            corpus_line=line,
            corpus_model=r["model"],
        )
        out.append(rec)
    return out
