#!/usr/bin/env python3
"""The same parse on the same file three ways, alternated in rounds: ``make bench``.

  cli       tp parse FILE -o out.parquet (a subprocess: start-up included)
  datasets  load_dataset('json') → map(parse_batch, batched=True, num_proc=2) → to_parquet
  ray       read_json → map_batches(parse_batch) → write_parquet on a local 2-CPU cluster;
            ray.init is timed apart (a long-lived cluster pays it once)

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

    times: dict[str, list[float]] = {"cli": [], "datasets": [], "ray": []}
    for _ in range(args.rounds):
        for name, run in (("cli", cli), ("datasets", with_datasets), ("ray", with_ray)):
            out = Path(tempfile.mkdtemp(dir=DATA))
            started = time.perf_counter()
            run(src, out)
            times[name].append(time.perf_counter() - started)
            shutil.rmtree(out)
    ray.shutdown()

    print(f"parse of {args.records:,} records ({src.stat().st_size / 1e6:.0f} MB), {args.rounds} rounds, 2 cores")
    cli_median = statistics.median(times["cli"])
    for name, runs in times.items():
        median = statistics.median(runs)
        print(
            f"  {name:<9} {median:7.2f} s  (spread {min(runs):.2f}–{max(runs):.2f})  {median / cli_median:5.2f}× the CLI"
        )
    print(f"  ray.init  {ray_init:7.2f} s  once per cluster")


if __name__ == "__main__":
    main()
