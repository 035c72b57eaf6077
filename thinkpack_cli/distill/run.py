"""A run: plan every record before paying for one, then ask with bounded concurrency."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from .. import console, streams
from ..errors import InputError, RecordError
from ..openai_client import Failed
from .judge import Trace, judge, rejection
from .ledger import Ledger, check_paths, errors_path
from .options import META, DistillOptions, check_options
from .prompts import Prompter, record_key
from .summary import Counts
from .teacher import Teacher

GRADE_TIMEOUT = 5.0


@dataclass(slots=True)
class Request:
    source: str
    line: int
    key: str
    raw: bytes  # the record as JSON: compact in memory, decoded again when its answer comes
    prompt: str
    gold: Any


def plan(
    paths: list[str],
    prompter: Prompter,
    ledger: Ledger,
    tally: Counts,
    options: DistillOptions,
    on_error: str,
    input_format: str | None,
) -> list[Request]:
    """The records still to ask for, each keyed and its prompt rendered; counts the rest in ``tally``."""
    jobs: list[Request] = []
    keys: set[str] = set()
    for item in streams.iter_records(paths, on_error=on_error, input_format=input_format):
        tally.read += 1
        problem = item.error
        if problem is None:
            try:
                key = record_key(item.record, options.id_field)
                if key in keys:
                    tally.duplicates += 1
                elif ledger.finished(key, options.retry_rejected):
                    tally.finished_before += 1
                else:
                    prompt, gold = prompter(item.record)
                    raw = item.raw if item.raw is not None else streams.encode_jsonl([item.record])
                    jobs.append(Request(item.source, item.line, key, raw, prompt, gold))
                keys.add(key)
            except RecordError as e:
                problem = str(e)
        if problem is not None:
            if on_error == "fail":
                raise InputError(item.source, item.line, problem)
            tally.unreadable.append((item.source, item.line, problem))
    tally.todo = len(jobs)
    return jobs


class Progress:
    """done / failed / rate / ETA / tokens on stderr: a bar at a terminal, else a line a minute."""

    INTERVAL = 60.0

    def __init__(self, tally: Counts, show: bool):
        self.tally = tally
        self.show = show
        self._context = self._bar = None
        self.started = self._last = time.monotonic()

    def __enter__(self) -> Progress:
        watched = self.show and console.interactive()
        self._context = console.progress("distill", self.tally.todo, unit="items", status=True) if watched else None
        self._bar = self._context.__enter__() if self._context is not None else None
        return self

    def __exit__(self, *exc_info) -> None:
        if self._context is not None:
            self._context.__exit__(*exc_info)

    def update(self) -> None:
        t = self.tally
        if self._bar is not None:
            self._bar.update(completed=t.done + t.rejected + t.failed, status=self.status())
        elif self.show and time.monotonic() - self._last >= self.INTERVAL:
            self._last = time.monotonic()
            console.say(f"tp distill: {t.done + t.rejected + t.failed}/{t.todo} · {self.status()}")

    def status(self) -> str:
        t = self.tally
        rate = (t.done + t.rejected + t.failed) / max(time.monotonic() - self.started, 1e-9)
        capped = f" · {t.capped_waits} Retry-After waits cut to --max-retry-wait" if t.capped_waits else ""
        return (
            f"{t.done} done · {t.rejected} rejected · {t.failed} failed · {rate:.1f}/s · "
            f"tokens {_short(t.prompt_tokens)} in + {_short(t.completion_tokens)} out{capped}"
        )


def _short(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


class Distiller:
    """Asks the teacher for every job, judges, grades and writes."""

    def __init__(self, options: DistillOptions, teacher: Teacher, ledger: Ledger, tally: Counts, progress: Progress):
        from ..parse import ParseOptions, Parser

        self.options, self.teacher, self.ledger, self.tally, self.progress = options, teacher, ledger, tally, progress
        self.parser = Parser(ParseOptions())
        self.grader = None
        if options.mode == "solve":
            from concurrent.futures import ThreadPoolExecutor

            from ..grading import Grader

            self.grader = Grader(options.grader, GRADE_TIMEOUT, workers=1)
            if options.grader == "math":
                # Start the grading process now: forking once the event loop runs would copy a busy process.
                self.grader.grade([("0", "1")])
            self._grading = ThreadPoolExecutor(1)  # one grader, one caller at a time

    async def run(self, jobs: list[Request]) -> None:
        queue = iter(jobs)  # shared: each worker takes the next job when it is free

        async def worker():
            for job in queue:
                await self.distill(job)
                self.progress.update()

        started = time.monotonic()
        tasks = [asyncio.ensure_future(worker()) for _ in range(min(self.options.concurrency, len(jobs)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.tally.seconds = time.monotonic() - started

    def close(self) -> None:
        if self.grader is not None:
            self._grading.shutdown()
            self.grader.close()

    async def distill(self, job: Request) -> None:
        options, tally = self.options, self.tally
        kept: list[Trace] = []
        reasons: list[str] = []
        try:
            for index in range(options.n):
                completion = await self.teacher.complete(job.prompt)
                tally.prompt_tokens += completion.prompt_tokens or 0
                tally.completion_tokens += completion.completion_tokens or 0
                sample = judge(completion, options.mode, self.parser, index)
                if isinstance(sample, str):
                    reasons.append(sample)
                    continue
                if options.mode == "solve":
                    sample.fields["correct"] = correct = await self.grade(sample.fields["response"], job.gold)
                    if not correct:
                        reasons.append("wrong answer")
                        if options.keep != "all":
                            continue
                kept.append(sample)
                if options.mode != "solve" or options.keep == "first":
                    break
        except Failed as e:
            tally.failed += 1
            self.ledger.error(job.key, job.source, job.line, "failed", str(e), orjson.loads(job.raw))
            return
        record = orjson.loads(job.raw)
        if not kept:
            tally.rejected += 1
            self.ledger.error(job.key, job.source, job.line, "rejected", rejection(reasons), record)
            return
        lines = []
        for sample in kept:
            c = sample.completion
            meta = {
                "key": job.key,
                "model": options.model,
                "sample": sample.index,
                "kept": len(kept),
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
            }
            lines.append({**record, **sample.fields, META: meta})
        self.ledger.write(job.key, streams.encode_jsonl(lines))
        tally.done += 1
        tally.lines += len(kept)

    async def grade(self, answer: str, gold: Any) -> bool:
        loop = asyncio.get_running_loop()
        verdicts = await loop.run_in_executor(self._grading, self.grader.grade, [(answer, gold)])
        return verdicts[0]


def run(
    paths: list[str],
    options: DistillOptions,
    output: str,
    tally: Counts,
    *,
    api_key: str | None = None,
    errors: str | None = None,
    on_error: str = "fail",
    input_format: str | None = None,
    show_progress: bool = True,
) -> None:
    """Distill every record of ``paths`` not yet finished in ``output``; counts go to ``tally``
    (the caller's, so it is there to report when a run is interrupted)."""
    check_options(options)
    check_paths(paths, output, errors or errors_path(output))
    prompter = Prompter(options)
    ledger = Ledger(output, errors, "hash" if options.id_field is None else f"id:{options.id_field}")
    try:
        jobs = plan(paths, prompter, ledger, tally, options, on_error, input_format)
        if jobs:
            progress = Progress(tally, show_progress)
            distiller = Distiller(options, Teacher(options, api_key, tally), ledger, tally, progress)
            try:
                with progress:  # after the grader's fork: the bar runs a thread
                    asyncio.run(_ask(distiller, jobs))
            finally:
                distiller.close()
    finally:
        ledger.close()


async def _ask(distiller: Distiller, jobs: list[Request]) -> None:
    async with distiller.teacher:
        await distiller.run(jobs)
