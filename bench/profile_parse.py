#!/usr/bin/env python3
"""Where `tp parse` spends its time: each stage of its pipeline timed alone, in one
process, on bench/data/data.jsonl (run bench/run.py first). Not part of `make bench`.

  read      Source.blocks(): 1 MB slices of whole lines
  decode    streams.decode_block: orjson.loads per line
  parse     Parser(records): the split itself
  encode    the rest of streams.MapJob.run: turning parsed records into output bytes
  write     os.write of each block's output to the file (workers do this in turn)
"""

from __future__ import annotations

import cProfile
import dataclasses
import os
import pstats
import sys
import time
from pathlib import Path

from thinkpack_cli import streams
from thinkpack_cli.parse import ParseOptions, Parser

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    src = DATA / "data.jsonl"
    parser = Parser(ParseOptions())
    clock = dict.fromkeys(("read", "decode", "parse", "encode", "write"), 0.0)
    sizes = {"in": 0, "out": 0, "records": 0}
    fd = os.open(DATA / "profile_out.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    job = streams.MapJob(parser)
    t = time.perf_counter()
    for block in streams.Source(str(src)).blocks():
        if hasattr(block.data, "read"):  # a byte range the worker reads itself
            block = dataclasses.replace(block, data=block.data.read())
        now = time.perf_counter()
        clock["read"] += now - t
        rows = streams.decode_block(block)[0]
        t = time.perf_counter()
        clock["decode"] += t - now
        payload = job.run(rows).payload  # parse + encode, however MapJob does them
        now = time.perf_counter()
        clock["encode"] += now - t
        records = [row[1] for row in streams.decode_block(block)[0]]  # again, untimed: parse alone
        t = time.perf_counter()
        parser(records)
        now = time.perf_counter()
        clock["parse"] += now - t
        clock["encode"] -= now - t
        streams.write_pieces(fd, payload)
        t = time.perf_counter()
        clock["write"] += t - now
        sizes["in"] += block.size
        sizes["out"] += sum(map(len, payload))
        sizes["records"] += len(rows)
    os.close(fd)
    total = sum(clock.values())
    print(f"{sizes['records']:,} records, {sizes['in'] / 1e6:.0f} MB in, {sizes['out'] / 1e6:.0f} MB out; one process")
    for name, s in clock.items():
        print(f"  {name:<9} {s:6.2f} s  {100 * s / total:5.1f}%")
    print(f"  {'total':<9} {total:6.2f} s   (/2 workers = {total / 2:.2f} s: the wall-clock bound on 2 cores)")

    if "--cprofile" in sys.argv:  # the parse stage alone, function by function
        blocks = list(streams.Source(str(src)).blocks())[:40]
        records = [[row[1] for row in streams.decode_block(b)[0]] for b in blocks]
        prof = cProfile.Profile()
        prof.enable()
        for recs in records:
            parser(recs)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    os.unlink(DATA / "profile_out.jsonl")


if __name__ == "__main__":
    main()
