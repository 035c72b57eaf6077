#!/usr/bin/env python3
"""tp mask's speed against what any tool must pay, and against ThinkPack 1.0: ``python bench/mask_bench.py``.

On 5,000 instruction/reasoning/response records (generated once into bench/data/, fixed seed,
~550 Qwen3 tokens each) with the Qwen3 tokenizer of ../shared/tokenizers (absent from a clone:
then it says so and skips), times in rounds, each round waiting for quiet CPUs and the best run
of each measurement kept (bench/run.py's Bench):

  render                the chat template of every record, one apply_chat_template each
  encode_batch          ONE batched call of the Rust tokenizer over the rendered texts (offsets included)
  tokenizer(offsets)    the same through transformers: tokenizer(texts, return_offsets_mapping=True)
  floor                 render + encode_batch back to back: what any masking tool must pay
  tp mask               the real CLI in a subprocess, default mask, to Parquet (start-up, tokenizer load included)
  tp mask 1 record      the same on one record: start-up, tokenizer load, template detection, Parquet writer
  … (transformers)      both again with TP_TOKENIZER=transformers: the tokenizer through AutoTokenizer, as
                        before light_tokenizer.py (alternating with the runs above, so a burst hits both)
  thinkpack             a ThinkPack 1.0 user's script in a subprocess, as its README shows: read the JSONL,
                        to_conversations, apply_mask, Dataset.to_parquet (imports, tokenizer load included)
  thinkpack apply_mask  ThinkPack's masking function alone, in this process (its datasets.Dataset included)
  memory                peak RSS of tp mask on 5,000 and (once) on 10,000 records

prints a table with the ratios and their goals, and writes bench/data/mask_results.json.
Needs no GPU and no network.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # here and in every subprocess: a local tokenizer, never the hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # not "PyTorch was not found" on every start

import orjson  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
import run as bench  # noqa: E402  (its Bench, run_cmd, table and verdicts: one method for every benchmark)

ROOT = Path(__file__).resolve().parents[1]
DATA = bench.DATA
TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "qwen3"
VERSION = 1  # bump whenever the records change, so stale files are regenerated
SEED = 20240613
GOALS = {
    "thinkpack / tp mask": (2.0, "ge"),
    "tp mask / floor": (1.2, "le"),
    "tp mask peak RSS 10k / 5k": (1.25, "le"),  # "flat", as bench/run.py judges tp parse
}

# ---------------------------------------------------------------------------- data

# Common words, with gen.py's reasoning steps mixed in: English-like text tokenizes at ~4
# characters a token, so the spec's lengths give its ~550 Qwen3 tokens a record (gen.py's
# maths-dense steps alone give ~900).
WORDS = (
    "the a of to and in that is for it as with was on be by this are or from at which but not have we can if "
    "so then first next each number value answer problem step check case both total part side because since "
    "therefore however let me think about whether would should could must given find count sum product equal "
    "greater less than between after before again carefully result pattern method example condition remaining "
    "original simple already means gives makes looks seems clear"
).split()


def _text(rng: random.Random, steps, chars: int) -> str:
    """About ``chars`` characters (±20%) of sentences, cut at a space."""
    target, parts, size = int(chars * rng.uniform(0.8, 1.2)), [], 0
    while size < target:
        s = next(steps) if rng.random() < 0.3 else " ".join(rng.choices(WORDS, k=rng.randint(8, 18))).capitalize() + "."
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)[:target].rsplit(" ", 1)[0]


def ensure_records(n: int) -> Path:
    """bench/data/mask_v*_<n>.jsonl: the same ``n`` records every time (the first 5,000 of 10,000 are the 5,000)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"mask_v{VERSION}_{n}.jsonl"
    if not path.exists():
        rng = random.Random(SEED)
        steps = gen._steps(rng)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for i in range(n):
                record = {
                    "id": f"sft-{i:06d}",
                    "instruction": _text(rng, steps, 300),
                    "reasoning": _text(rng, steps, 1500),
                    "response": _text(rng, steps, 400),
                }
                f.write(orjson.dumps(record) + b"\n")
        os.replace(tmp, path)
    return path


def read_records(path: Path) -> list[dict]:
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f]


# ---------------------------------------------------------------------------- the floor


def here(fn, *args):
    """``fn(*args)`` as a Bench measurement in this process (Bench times a function that returns None)."""
    return lambda: fn(*args) and None


def render(tokenizer, records: list[dict]) -> list[str]:
    """The training text of every record as the template writes it: Qwen3 renders
    ``reasoning_content`` as its <think> block, as tp does for native templates."""
    apply = tokenizer.apply_chat_template
    return [
        apply(
            [
                {"role": "user", "content": r["instruction"]},
                {"role": "assistant", "content": r["response"], "reasoning_content": r["reasoning"]},
            ],
            tokenize=False,
        )
        for r in records
    ]


def encode_batch(tokenizer, texts: list[str]) -> list:
    return tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)


def tokenizer_offsets(tokenizer, texts: list[str]) -> dict:
    return tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)


# ---------------------------------------------------------------------------- ThinkPack


# What a ThinkPack user runs (``python -c`` in a subprocess, as tp runs), as its README shows:
# records → to_conversations → apply_mask (MaskType.THINK, its default) → the Dataset it
# returns, written to Parquet. ThinkPack masks the think block only, tp by default the prompt
# too: the labels differ, the work does not.
THINKPACK_USER = """
import json, sys
import thinkpack
from transformers import AutoTokenizer

tokenizer_dir, src, dst = sys.argv[1:4]
tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
with open(src) as f:
    records = [json.loads(line) for line in f]
dataset = thinkpack.apply_mask(conversations=thinkpack.to_conversations(records=records), tokenizer=tokenizer,
                               masked=thinkpack.MaskType.THINK)
dataset.to_parquet(dst)
"""


# ---------------------------------------------------------------------------- checks


def parquet_tokens(path: Path) -> tuple[int, int]:
    """Rows and total input_ids of a masked Parquet file: every tool must have tokenized the same text."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = pq.read_table(path, columns=["input_ids"]).column("input_ids")
    return len(ids), pc.sum(pc.list_value_length(ids)).as_py()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of every measurement; each keeps its best run")
    ap.add_argument("--records", type=int, default=5_000)
    ap.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    ap.add_argument("--tp", help="command to run instead of tp, e.g. a prototype: 'python my_tp.py'")
    args = ap.parse_args()
    if not (args.tokenizer / "tokenizer.json").exists():
        print(
            f"mask bench skipped: no Qwen3 tokenizer at {args.tokenizer} (it comes from ../shared/tokenizers, "
            "which a clone of the repository lacks; pass --tokenizer DIR)"
        )
        return
    if args.tp:
        bench.TP[:] = args.tp.split()
    tp, n = bench.TP, args.records

    from transformers import AutoTokenizer

    data, data2, one = ensure_records(n), ensure_records(2 * n), ensure_records(1)
    records = read_records(data)
    tokenizer = AutoTokenizer.from_pretrained(str(args.tokenizer))
    texts = render(tokenizer, records)  # the input of the tokenize-only measurements
    tokens = sum(len(e.ids) for e in encode_batch(tokenizer, texts))
    print(
        f"data: {n:,} records, {data.stat().st_size / bench.MB:.1f} MB, {tokens / n:,.0f} Qwen3 tokens a record "
        f"({data.name})",
        flush=True,
    )

    out, out1, out2, out_tp = (DATA / f"mask_{name}.parquet" for name in ("tp", "tp_1", "tp_2x", "thinkpack"))

    def mask(src, dst, *env):  # env: NAME=VALUE settings for tp (through env(1), so the sampled tree is tp's)
        return bench.run_cmd(
            [*(["env", *env] if env else []), *tp, "mask", src, "-o", dst, "--tokenizer", args.tokenizer, "-q"]
        )

    auto = "TP_TOKENIZER=transformers"
    bench.warm(data, data2, *args.tokenizer.iterdir())
    bench.run_cmd([*tp, "--version"])  # compile .pyc outside the timings
    b = bench.Bench()
    b.add("render", here(render, tokenizer, records), data, n)
    b.add("encode_batch", here(encode_batch, tokenizer, texts), data, n)
    b.add("tokenizer(offsets)", here(tokenizer_offsets, tokenizer, texts), data, n)
    b.add("floor: render + encode_batch", here(lambda: encode_batch(tokenizer, render(tokenizer, records))), data, n)
    b.add("tp mask -> parquet", lambda: mask(data, out), data, n, writes=out)
    b.add("tp mask 1 record", lambda: mask(one, out1), one, 1, writes=out1)
    out_auto = DATA / "mask_tp_transformers.parquet"
    b.add("tp mask -> parquet (transformers)", lambda: mask(data, out_auto, auto), data, n, writes=out_auto)
    b.add("tp mask 1 record (transformers)", lambda: mask(one, out1, auto), one, 1, writes=out1)
    try:
        import thinkpack
    except ImportError:
        b.notes.append("thinkpack skipped: thinkpack is not installed (make bench installs thinkpack==1.0.0)")
    else:
        conversations = thinkpack.to_conversations(records=records)
        b.add(
            "thinkpack user -> parquet",
            lambda: bench.run_cmd([sys.executable, "-c", THINKPACK_USER, args.tokenizer, data, out_tp]),
            data,
            n,
            writes=out_tp,
        )
        b.add("thinkpack apply_mask", here(thinkpack.apply_mask, conversations, tokenizer), data, n)
    b.add(f"tp mask {2 * n // 1000}k (memory)", lambda: mask(data2, out2), data2, 2 * n, once=True, writes=out2)

    print(f"timing: {args.rounds} rounds, best run kept ({os.cpu_count()} CPUs)", flush=True)
    b.run(args.rounds)

    # Every tool must have tokenized the same texts: rows and tokens of each output against the
    # floor's. (ThinkPack trims the newline Qwen3's template writes after the last <|im_end|>: one
    # token a record fewer.)
    checks = {"floor": (n, tokens)}
    for name, path in (("tp mask", out), ("tp mask (transformers)", out_auto), ("thinkpack", out_tp)):
        if path.exists():
            checks[name] = parquet_tokens(path)
    for name in ("tp mask", "tp mask (transformers)"):
        if checks.get(name, checks["floor"]) != checks["floor"]:
            b.notes.append(f"{name} wrote {checks[name]} rows, tokens; the floor has {checks['floor']}")
    if out.exists() and out_auto.exists() and out.read_bytes() != out_auto.read_bytes():
        b.notes.append("tp mask wrote other bytes through transformers' tokenizer than through the light one")
    for path in (out1, out2, out_auto):
        path.unlink(missing_ok=True)

    print(
        f"\n{n:,} instruction/reasoning/response records, {tokens / n:,.0f} Qwen3 tokens each ({data.name}); "
        "rows, tokens written: " + "; ".join(f"{k} {r:,}, {t:,}" for k, (r, t) in checks.items())
    )
    bench.print_table(b.results)
    sec = b.seconds
    ratios = {
        "thinkpack / tp mask": bench.ratio(b, "thinkpack user -> parquet", "tp mask -> parquet"),
        "tp mask / floor": bench.ratio(b, "tp mask -> parquet", "floor: render + encode_batch"),
        "tp mask (transformers) / floor": bench.ratio(
            b, "tp mask -> parquet (transformers)", "floor: render + encode_batch"
        ),
        "tp mask peak RSS 10k / 5k": bench.ratio(
            b, f"tp mask {2 * n // 1000}k (memory)", "tp mask -> parquet", "tree_rss_mb"
        ),
        "thinkpack apply_mask / tp mask": bench.ratio(b, "thinkpack apply_mask", "tp mask -> parquet"),
        "tokenizer(offsets) / encode_batch": bench.ratio(b, "tokenizer(offsets)", "encode_batch"),
    }
    if sec("tp mask -> parquet") and sec("tp mask 1 record") and sec("floor: render + encode_batch"):
        # tp's fixed cost (start-up, tokenizer load, detection) apart: what each further record costs it.
        ratios["tp mask less 1-record run / floor"] = (sec("tp mask -> parquet") - sec("tp mask 1 record")) / sec(
            "floor: render + encode_batch"
        )
    verdicts = bench.print_ratios(ratios, GOALS)
    # On a shared machine a burst can land in every round: say so rather than judge by a slowed run.
    for name, r in b.results.items():
        if r["others_cpu_s"] > 0.1 * r["seconds"]:
            b.notes.append(
                f"{name}: even its best run shared the CPUs (others used {r['others_cpu_s']:.1f} CPU s); "
                "rerun on a quieter machine or with more --rounds"
            )
    for note in b.notes:
        print(f"note: {note}")

    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            **versions("transformers", "tokenizers", "pyarrow", "datasets", "thinkpack"),
        },
        "data": {
            "file": data.name,
            "records": n,
            "bytes": data.stat().st_size,
            "tokens": tokens,
            "version": VERSION,
            "seed": SEED,
            "tokenizer": str(args.tokenizer),
        },
        "method": "rounds of every measurement, best (minimum) run kept; subprocess timings include start-up",
        "tp": " ".join(map(str, tp)),
        "outputs_rows_tokens": checks,
        "others_busy_before_each_round": b.busy,
        "timings": {
            k: {f: (round(v, 3) if isinstance(v, float) else v) for f, v in r.items()} for k, r in b.results.items()
        },
        "ratios": {
            k: {"value": v and round(v, 3), "goal": GOALS.get(k), "verdict": verdicts[k]} for k, v in ratios.items()
        },
        "notes": b.notes,
    }
    (DATA / "mask_results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"\nresults: {DATA / 'mask_results.json'}")


def versions(*libs: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for lib in libs:
        try:
            found[lib] = version(lib)
        except PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    main()
