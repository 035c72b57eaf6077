#!/usr/bin/env python3
"""tp's throughput against what any tool must pay, in one run: ``make bench``.

Generates (once, with a fixed seed) 200,000 eval-output records in
bench/data/, then times, in ``--rounds`` rounds of every measurement (a shared
machine's bursts of other work then hit them alike; each round first waits for
the CPUs to go quiet) keeping each one's best run (interference only adds time):

  floor_rw     orjson loads + dumps of every line, one process: the same-file floor
  floor_r      orjson loads of every line (of the raw file and of tp's output)
  tp parse     the real CLI in a subprocess (its start-up included), to .jsonl and to .parquet
  thinkpack    ThinkPack 1.0's ``parse`` per record, read/written with orjson
  tp stats     on the parsed output, on the raw file, and graded on a 20k subset
  memory       peak RSS of tp parse and tp stats on the file and (once) on the file four times over

prints a table with the ratios and their goals, and writes bench/data/results.json.
Needs no GPU and no network.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from measure import DATA, MB, QUIET, busy_seconds, run_cmd, wait_quiet  # noqa: E402

TP = [Path(sys.executable).parent / "tp"]  # the CLI of the very venv running this script (--tp changes it)
SMALL = 20_000
BIG = 4  # the memory runs read the file this many times over
GOALS = {  # ratio: (goal, "le" or "ge"); issue 12's where it set one
    "parse / floor_rw": (0.6, "le"),  # both cores working against a single-process split
    "parquet / jsonl output": (1.0, "le"),
    f"stats peak RSS {BIG}x / 1x": (1.25, "le"),  # "flat from 1x to 4x the input"
    "thinkpack / parse": (1.5, "ge"),
    "stats(parsed) / floor_r(parsed)": (1.5, "le"),
    "stats(raw) / floor_r(raw)": (1.5, "le"),
    f"parse peak RSS {BIG}x / 1x": (1.25, "le"),  # "flat": four times the input barely moves it
}


# ---------------------------------------------------------------------------- in-process work


def floor_rw(src: Path, dst: Path) -> None:
    loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            out.write(dumps(loads(line), option=nl))


def floor_r(src: Path) -> None:
    loads = orjson.loads
    with open(src, "rb") as f:
        for line in f:
            loads(line)


def thinkpack_peer(src: Path, dst: Path) -> None:
    """What a ThinkPack user writes: no tokenizer, so a ModelInfo for <think> outputs
    whose prompt did not open the block; the same four fields tp adds."""
    import thinkpack

    info, parse = thinkpack.ModelInfo(prefixed=False), thinkpack.parse
    loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            record = loads(line)
            r = parse(record["response"], model_info=info)
            record["reasoning"], record["answer"], record["reasoning_tag"] = r.reasoning, r.answer, r.reasoning_tag
            record["status"] = (
                "valid"
                if r.has_valid_reasoning
                else "empty"
                if r.has_empty_reasoning
                else "truncated"
                if r.has_truncated_reasoning
                else "missing"
            )
            out.write(dumps(record, option=nl))


# ---------------------------------------------------------------------------- measuring


class Bench:
    """Measurements run in rounds, each round running every measurement once, so that
    a burst of other work on a shared machine hits all of them alike; the best run counts."""

    def __init__(self):
        self.plan, self.runs, self.results, self.notes, self.busy = [], {}, {}, [], []

    def add(self, name: str, fn, src: Path, records: int, once: bool = False, writes: Path | None = None) -> None:
        """``fn()`` returns a subprocess's dict (run_cmd), or None when it ran in-process."""
        self.plan.append((name, fn, src, records, once, writes))

    def run(self, rounds: int) -> None:
        for i in range(rounds):
            busy = wait_quiet()
            self.busy.append(round(busy, 2))
            print(
                f"round {i + 1}/{rounds}" + (f" (others kept {busy:.0%} of the CPUs busy)" if busy > QUIET else ""),
                flush=True,
            )
            for name, fn, src, records, once, writes in self.plan:
                if (once and i) or name in self.runs and self.runs[name] is None:
                    continue
                if writes is not None:
                    # Freeing the last run's output (GBs of page cache) is no part of this run's work.
                    writes.unlink(missing_ok=True)
                    os.sync()
                start, cpu, busy0 = time.perf_counter(), time.process_time(), busy_seconds()
                try:
                    info = fn() or {"seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
                    # CPU time the rest of the machine used meanwhile: a run others slowed down shows it.
                    info["others_cpu_s"] = max(0.0, busy_seconds() - busy0 - info["cpu_s"])
                except Exception as e:  # one failed measurement must not cost the others
                    self.notes.append(f"{name}: FAILED: {e}")
                    print(f"  {name}: FAILED: {e}", flush=True)
                    self.runs[name] = None
                    continue
                self.runs.setdefault(name, []).append(info)
                print(
                    f"  {name:<34} {info['seconds']:7.2f} s  (others used {info['others_cpu_s']:.1f} CPU s)", flush=True
                )
        for name, _, src, records, *_ in self.plan:
            if self.runs.get(name):
                self.results[name] = self._row(self.runs[name], src, records)

    @staticmethod
    def _row(runs: list[dict], src: Path, records: int) -> dict:
        best = min(runs, key=lambda r: r["seconds"])
        peak = lambda key: max((r.get(key) or 0 for r in runs), default=0) or None  # noqa: E731
        return {
            "seconds": best["seconds"],
            "cpu_s": best["cpu_s"],  # user + sys of every process involved, workers included
            "runs": [round(r["seconds"], 3) for r in runs],
            "others_cpu_s": best["others_cpu_s"],
            "mb_s": src.stat().st_size / MB / best["seconds"],
            "records_s": records / best["seconds"],
            "input": src.name,
            "max_rss_mb": peak("max_rss_mb"),
            "tree_rss_mb": peak("tree_rss_mb"),
        }

    def seconds(self, name: str) -> float | None:
        return self.results[name]["seconds"] if name in self.results else None


def derived_files(data: Path, fresh: bool) -> tuple[Path, Path]:
    """The first 20,000 records (grading) and the file four times over (memory)."""
    small, big = DATA / "data_small.jsonl", DATA / f"data_{BIG}x.jsonl"
    if fresh or not small.exists():
        with open(data, "rb") as f, open(small, "wb") as out:
            out.writelines(line for _, line in zip(range(SMALL), f))
    (DATA / "data_2x.jsonl").unlink(missing_ok=True)  # the twice-over file of earlier versions
    if fresh or not big.exists() or big.stat().st_size != BIG * data.stat().st_size:
        with open(big, "wb") as out:
            for _ in range(BIG):
                with open(data, "rb") as f:
                    shutil.copyfileobj(f, out, 16 << 20)
    return small, big


def warm(*paths: Path) -> None:
    """Read files once so every timing starts from the page cache, not the disk."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


def status_mix(path: Path, limit: int = SMALL) -> dict:
    counts: dict = {}
    with open(path, "rb") as f:
        for _, line in zip(range(limit), f):
            status = orjson.loads(line).get("status")
            counts[status] = counts.get(status, 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of every measurement; each keeps its best run")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--tp", help="command to run instead of tp, e.g. a prototype: 'python my_tp.py'")
    args = ap.parse_args()
    if args.tp:
        TP[:] = args.tp.split()

    t0 = time.perf_counter()
    data, fresh = gen.ensure(DATA, args.records)
    print(f"data: {data} ({'generated' if fresh else 'reused'} in {time.perf_counter() - t0:.1f} s)", flush=True)
    small, big = derived_files(data, fresh)
    out, out_pq, scratch = DATA / "out.jsonl", DATA / "out.parquet", DATA / "scratch.jsonl"
    n, n_small = args.records, min(SMALL, args.records)
    warm(data, small)
    subprocess.run([*TP, "--version"], capture_output=True, check=True)  # compile .pyc outside the timings
    b = Bench()
    b.add("floor_rw", lambda: floor_rw(data, scratch), data, n, writes=scratch)
    b.add("floor_r(raw)", lambda: floor_r(data), data, n)
    b.add(
        "tp parse -> jsonl", lambda: run_cmd([*TP, "parse", data, "-o", out, "-q"]), data, n, writes=out
    )  # read below
    b.add("tp parse -> parquet", lambda: run_cmd([*TP, "parse", data, "-o", out_pq, "-q"]), data, n, writes=out_pq)
    b.add("floor_r(parsed)", lambda: floor_r(out), out, n)
    b.add("floor_rw(parsed)", lambda: floor_rw(out, scratch), out, n, writes=scratch)
    try:
        import thinkpack  # noqa: F401  (imported here: its import pulls in datasets, not part of parsing)
    except ImportError:
        b.notes.append("thinkpack peer skipped: thinkpack is not installed (make bench installs thinkpack==1.0.0)")
    else:
        b.add("thinkpack 1.0 parse", lambda: thinkpack_peer(data, scratch), data, n, writes=scratch)
    # The records carry a `gold` field, which stats grades by default: rates and lengths
    # alone are measured with grading off, grading on its own subset.
    b.add("tp stats parsed --json", lambda: run_cmd([*TP, "stats", out, "--json", "--grader", "none"]), out, n)
    b.add("tp stats raw --json", lambda: run_cmd([*TP, "stats", data, "--json", "--grader", "none"]), data, n)
    b.add(
        f"tp stats --gold ({n_small // 1000}k)",
        lambda: run_cmd([*TP, "stats", small, "--gold", "gold", "--json"]),
        small,
        n_small,
    )
    out_big = DATA / f"out_{BIG}x.jsonl"
    b.add(
        f"tp parse {BIG}x file (memory)",
        lambda: run_cmd([*TP, "parse", big, "-o", out_big, "-q"]),
        big,
        BIG * n,
        once=True,
        writes=out_big,
    )
    b.add(
        f"tp stats raw {BIG}x file (memory)",
        lambda: run_cmd([*TP, "stats", big, "--json", "--grader", "none"]),
        big,
        BIG * n,
        once=True,
    )

    print(f"timing: {args.rounds} rounds, best run kept ({os.cpu_count()} CPUs)", flush=True)
    b.run(args.rounds)
    for path in (scratch, out_big):
        path.unlink(missing_ok=True)

    mix = status_mix(out) if out.exists() else {}
    report(b, data, n, mix)


def ratio(b: Bench, a: str, c: str, key: str = "seconds") -> float | None:
    x, y = b.results.get(a, {}).get(key), b.results.get(c, {}).get(key)
    return x / y if x and y else None


def print_table(results: dict) -> None:
    """The timings table (Bench.results), one row per measurement."""
    print(
        f"{'measurement':<34} {'seconds':>8} {'CPU s':>7} {'MB/s':>8} {'records/s':>11} {'peak proc MB':>12} "
        f"{'peak tree MB':>12} {'others CPU s':>12}"
    )
    for name, r in results.items():
        mem = lambda v: f"{v:,.0f}" if v else "-"  # noqa: E731
        print(
            f"{name:<34} {r['seconds']:8.2f} {r['cpu_s']:7.2f} {r['mb_s']:8.1f} {r['records_s']:11,.0f} "
            f"{mem(r['max_rss_mb']):>12} {mem(r['tree_rss_mb']):>12} {r['others_cpu_s']:12.2f}"
        )


def print_ratios(ratios: dict, goals: dict) -> dict:
    """The ratios against their goals (``{name: (goal, "le" or "ge")}``); each one's verdict."""
    verdicts = {}
    print(f"\n{'ratio':<34} {'value':>8}  goal")
    for name, value in ratios.items():
        goal = goals.get(name)
        if value is None:
            verdicts[name] = "not measured"
        elif goal is None:
            verdicts[name] = "info"
        else:
            met = value <= goal[0] if goal[1] == "le" else value >= goal[0]
            verdicts[name] = "met" if met else "MISSED"
        shown = f"{value:8.2f}" if value is not None else f"{'-':>8}"
        goal_text = f"{'≤' if goal[1] == 'le' else '≥'} {goal[0]}  {verdicts[name]}" if goal else verdicts[name]
        print(f"{name:<34} {shown}  {goal_text}")
    return verdicts


def report(b: Bench, data: Path, n: int, mix: dict) -> None:
    print(
        f"\n{n:,} records, {data.stat().st_size / MB:,.0f} MB ({data.name}); "
        f"tp status mix of the first {SMALL:,}: {mix}"
    )
    print_table(b.results)

    ratios = {
        "parse / floor_rw": ratio(b, "tp parse -> jsonl", "floor_rw"),
        "parquet parse / floor_rw": ratio(b, "tp parse -> parquet", "floor_rw"),
        "thinkpack / parse": ratio(b, "thinkpack 1.0 parse", "tp parse -> jsonl"),
        "stats(parsed) / floor_r(parsed)": ratio(b, "tp stats parsed --json", "floor_r(parsed)"),
        "stats(raw) / floor_r(raw)": ratio(b, "tp stats raw --json", "floor_r(raw)"),
        f"parse peak RSS {BIG}x / 1x": ratio(b, f"tp parse {BIG}x file (memory)", "tp parse -> jsonl", "tree_rss_mb"),
        "parquet / jsonl output": ratio(b, "tp parse -> parquet", "tp parse -> jsonl"),
        f"stats peak RSS {BIG}x / 1x": ratio(
            b, f"tp stats raw {BIG}x file (memory)", "tp stats raw --json", "tree_rss_mb"
        ),
    }
    # tp writes ~2x the bytes it reads (the text stays, reasoning and answer are added): the
    # floor for its own bytes is reading the input plus encoding and writing its output.
    sec = b.seconds
    if all(sec(k) for k in ("floor_r(raw)", "floor_rw(parsed)", "floor_r(parsed)", "tp parse -> jsonl")):
        own_floor = sec("floor_r(raw)") + sec("floor_rw(parsed)") - sec("floor_r(parsed)")
        ratios["parse / floor for its output bytes"] = sec("tp parse -> jsonl") / own_floor
    verdicts = print_ratios(ratios, GOALS)
    for note in b.notes:
        print(f"note: {note}")

    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "orjson": orjson.__version__,
        },
        "data": {
            "file": data.name,
            "records": n,
            "bytes": data.stat().st_size,
            "generator": gen.VERSION,
            "seed": gen.SEED,
            "status_mix_first_20k": mix,
        },
        "method": "rounds of every measurement, best (minimum) run kept; subprocess timings include start-up",
        "tp": " ".join(map(str, TP)),
        "others_busy_before_each_round": b.busy,
        "timings": {
            k: {f: (round(v, 3) if isinstance(v, float) else v) for f, v in r.items()} for k, r in b.results.items()
        },
        "ratios": {
            k: {"value": v and round(v, 3), "goal": GOALS.get(k), "verdict": verdicts[k]} for k, v in ratios.items()
        },
        "notes": b.notes,
    }
    (DATA / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"\nresults: {DATA / 'results.json'}")


if __name__ == "__main__":
    main()
