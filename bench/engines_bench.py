#!/usr/bin/env python3
"""The same parse on the same file three ways, alternated in rounds: ``make bench``.

  cli       tp parse FILE -o out.parquet (a subprocess: start-up included)
  datasets  load_dataset('json') → map(parse_batch, batched=True, num_proc=2) → to_parquet
  ray       read_json → map_batches(parse_batch) → write_parquet on a local 2-CPU cluster, as a
            first try writes it; ray.init is timed apart (a long-lived cluster pays it once)
  ray-arrow the same with Arrow batches of 4,096 rows (batch_format="pyarrow")

then, once, where Ray's time goes: each stage materialized on its own (read, map, write), with
its task count; and the same three ways for mask (bench/mask_bench.py's 5,000 records, Qwen3's
tokenizer from ../shared: skipped, saying so, without it), where each record costs far more.

Prints each one's median seconds with its spread (min–max over the rounds) and the ratios to
the CLI. Runs in the dev environment (.venv: the test extra has datasets and Ray).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[1]
TP = [sys.executable, "-m", "thinkpack_cli"]


def cli(src: Path, out: Path) -> None:
    subprocess.run([*TP, "parse", "-q", str(src), "-o", str(out / "cli.parquet")], check=True)


def with_datasets(src: Path, out: Path) -> None:
    import datasets

    from thinkpack_cli.batches import parse_batch

    datasets.disable_progress_bars()
    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(out / "cache"))
    ds.map(parse_batch, batched=True, num_proc=2, fn_kwargs={"field": "response"}).to_parquet(str(out / "ds.parquet"))


def with_ray(src: Path, out: Path) -> None:
    import ray

    from thinkpack_cli.batches import parse_batch

    ray.data.read_json(str(src)).map_batches(parse_batch, fn_kwargs={"field": "response"}).write_parquet(
        str(out / "ray")
    )


def with_ray_arrow(src: Path, out: Path) -> None:
    import ray

    from thinkpack_cli.batches import parse_batch

    ray.data.read_json(str(src)).map_batches(
        parse_batch, fn_kwargs={"field": "response"}, batch_format="pyarrow", batch_size=4096
    ).write_parquet(str(out / "ray"))


def mask_cli(src: Path, out: Path, tokenizer: Path) -> None:
    subprocess.run([*TP, "mask", "-q", str(src), "-t", str(tokenizer), "-o", str(out / "cli.parquet")], check=True)


def mask_datasets(src: Path, out: Path, tokenizer: Path) -> None:
    import datasets

    from thinkpack_cli.batches import mask_batch

    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(out / "cache"))
    ds.map(mask_batch, batched=True, num_proc=2, fn_kwargs={"tokenizer": str(tokenizer)}).to_parquet(
        str(out / "ds.parquet")
    )


def mask_ray(src: Path, out: Path, tokenizer: Path) -> None:
    import ray

    from thinkpack_cli.batches import mask_batch

    ray.data.read_json(str(src)).map_batches(
        mask_batch, fn_kwargs={"tokenizer": str(tokenizer)}, batch_format="pyarrow", batch_size=1024
    ).write_parquet(str(out / "ray"))


def alternate(runs, rounds: int, src: Path, *extra) -> dict[str, list[float]]:
    """Seconds of each run, A B C A B C …, a fresh output folder each time."""
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, run in runs:
            out = Path(tempfile.mkdtemp(dir=DATA))
            started = time.perf_counter()
            run(src, out, *extra)
            times[name].append(time.perf_counter() - started)
            shutil.rmtree(out)
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    print(title)
    cli_median = statistics.median(times["cli"])
    for name, runs in times.items():
        median = statistics.median(runs)
        print(
            f"  {name:<10} {median:7.2f} s  (spread {min(runs):.2f}–{max(runs):.2f})  {median / cli_median:5.2f}× the CLI"
        )


def ray_stages(src: Path, out: Path) -> list[tuple[str, float, int]]:
    """Each stage of the default Ray pipeline run alone: (stage, seconds, blocks it made)."""
    import ray

    from thinkpack_cli.batches import parse_batch

    stages = []
    started = time.perf_counter()
    read = ray.data.read_json(str(src)).materialize()
    stages.append(("read_json", time.perf_counter() - started, read.num_blocks()))
    started = time.perf_counter()
    mapped = read.map_batches(parse_batch, fn_kwargs={"field": "response"}).materialize()
    stages.append(("map_batches", time.perf_counter() - started, mapped.num_blocks()))
    started = time.perf_counter()
    mapped.write_parquet(str(out / "stages"))
    stages.append(("write_parquet", time.perf_counter() - started, len(list((out / "stages").iterdir()))))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    src, _ = gen.ensure(DATA / f"engines_{args.records}", args.records)

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray_init = time.perf_counter() - started

    runs = (("cli", cli), ("datasets", with_datasets), ("ray", with_ray), ("ray-arrow", with_ray_arrow))
    times = alternate(runs, args.rounds, src)
    out = Path(tempfile.mkdtemp(dir=DATA))
    stages = ray_stages(src, out)
    shutil.rmtree(out)
    tokenizer = ROOT.parent / "shared" / "tokenizers" / "qwen3"
    masked = None
    if tokenizer.is_dir():
        import mask_bench

        records = mask_bench.ensure_records(5000)
        masked = alternate(
            (("cli", mask_cli), ("datasets", mask_datasets), ("ray", mask_ray)), args.rounds, records, tokenizer
        )
    ray.shutdown()

    report(
        f"parse of {args.records:,} records ({src.stat().st_size / 1e6:.0f} MB), {args.rounds} rounds, 2 cores", times
    )
    print(f"  ray.init  {ray_init:7.2f} s  once per cluster")
    print("  where Ray's time goes (each stage of `ray` alone, once):")
    for stage, seconds, blocks in stages:
        print(f"    {stage:<14} {seconds:6.2f} s  {blocks} blocks")
    if masked is None:
        print(f"mask: skipped ({tokenizer} is absent: it comes with ../shared)")
    else:
        report(f"mask of 5,000 records with Qwen3's tokenizer, {args.rounds} rounds, 2 cores", masked)


if __name__ == "__main__":
    main()
