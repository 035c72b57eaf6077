#!/usr/bin/env python3
"""tp distill's speed against a loopback teacher: ``python bench/distill_bench.py``.

Starts tests/teacher_server.py as its own process, answering every request after a
fixed 50 ms, and measures records/s at concurrency 64 against the ideal
64 / 0.05 s = 1,280/s (goal: at least 85%), with the server on the same cores:

  tp distill   the library's whole path: keys, prompts, aiohttp, parse, append to a file
  aiohttp      bare requests with the client tp uses: the client alone
  httpx        the same with httpx.AsyncClient (when installed)
  openai       the same with the openai SDK's AsyncOpenAI (when installed)

Each runs ``--rounds`` times and keeps its best (interference only slows a run down).
Prints a table and writes bench/data/distill_results.json. Needs no GPU and no network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
DELAY = 0.05
GOAL = 0.85
PROMPT = {"model": "teacher", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


def start_teacher() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "teacher_server.py"), "--delay", str(DELAY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    return server, f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"


async def _spread(count: int, concurrency: int, ask) -> None:
    """``count`` calls of ``ask``, ``concurrency`` at a time."""
    todo = iter(range(count))

    async def worker():
        for _ in todo:
            await ask()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bare_aiohttp(url: str, count: int, concurrency: int) -> None:
    import aiohttp

    body = json.dumps(PROMPT).encode()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), headers={"Content-Type": "application/json"}
    ) as session:

        async def ask():
            async with session.post(f"{url}/chat/completions", data=body) as response:
                json.loads(await response.read())

        await _spread(count, concurrency, ask)


async def bare_httpx(url: str, count: int, concurrency: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def ask():
            (await client.post(f"{url}/chat/completions", json=PROMPT)).json()

        await _spread(count, concurrency, ask)


async def bare_openai(url: str, count: int, concurrency: int) -> None:
    import httpx
    import openai

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with openai.AsyncOpenAI(
        base_url=url, api_key="bench", max_retries=0, http_client=openai.DefaultAsyncHttpxClient(limits=limits)
    ) as client:

        async def ask():
            await client.chat.completions.create(**PROMPT)

        await _spread(count, concurrency, ask)


def tp_distill(url: str, count: int, concurrency: int) -> float:
    """Seconds tp distill spent asking for ``count`` records (its plan and file opening excluded)."""
    from thinkpack_cli import distill

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.jsonl"
        source.write_text(
            "".join(
                json.dumps({"id": i, "question": f"What is {i} + 2?", "answer": str(i + 2)}) + "\n"
                for i in range(count)
            )
        )
        tally = distill.Counts()
        options = distill.DistillOptions(base_url=url, model="teacher", concurrency=concurrency, id_field="id")
        distill.run([str(source)], options, str(Path(folder) / "out.jsonl"), tally, show_progress=False)
        assert tally.done == count, tally
        return tally.seconds


def clients() -> dict:
    found = {"tp distill": tp_distill, "aiohttp": bare_aiohttp}
    for name, fn in (("httpx", bare_httpx), ("openai", bare_openai)):
        try:
            __import__(name)
            found[name] = fn
        except ImportError:
            print(f"({name} not installed: not measured)", file=sys.stderr)
    return found


def measure(fn, url: str, count: int, concurrency: int) -> float:
    if not asyncio.iscoroutinefunction(fn):
        return fn(url, count, concurrency)
    started = time.perf_counter()
    asyncio.run(fn(url, count, concurrency))
    return time.perf_counter() - started


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--concurrency", type=int, nargs="+", default=[64, 32])
    args.add_argument("--batches", type=int, default=40, help="records per run = concurrency × batches")
    args.add_argument("--rounds", type=int, default=3)
    args = args.parse_args()
    server, url = start_teacher()
    rows = []
    try:
        measure(bare_aiohttp, url, 256, 64)  # warm the server and the imports
        for concurrency in args.concurrency:
            count = concurrency * args.batches
            ideal = concurrency / DELAY
            for name, fn in clients().items():
                best = min(measure(fn, url, count, concurrency) for _ in range(args.rounds))
                rate = count / best
                rows.append(
                    {
                        "client": name,
                        "concurrency": concurrency,
                        "records": count,
                        "seconds": round(best, 3),
                        "records_per_s": round(rate, 1),
                        "ideal_per_s": ideal,
                        "share_of_ideal": round(rate / ideal, 3),
                    }
                )
                print(
                    f"{name:<11} c={concurrency:<3} {rate:8.1f} records/s  {rate / ideal:6.1%} of {ideal:,.0f}/s",
                    flush=True,
                )
    finally:
        server.kill()
        server.wait()
    main_row = (
        next(r for r in rows if r["client"] == "tp distill" and r["concurrency"] == 64)
        if 64 in args.concurrency
        else None
    )
    if main_row:
        verdict = "met" if main_row["share_of_ideal"] >= GOAL else "MISSED"
        print(
            f"goal: tp distill at concurrency 64 >= {GOAL:.0%} of ideal: {verdict} ({main_row['share_of_ideal']:.1%})"
        )
    DATA.mkdir(parents=True, exist_ok=True)
    result = {
        "delay_s": DELAY,
        "goal_share_of_ideal": GOAL,
        "rows": rows,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rounds": args.rounds,
    }
    (DATA / "distill_results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {DATA / 'distill_results.json'}")


if __name__ == "__main__":
    main()
