"""A run: blocks through a job (in this process or a pool), in input order, every record accounted for."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .. import console
from ..errors import InputError, UsageError
from .codec import decode_block, encode_jsonl
from .sinks import JsonlSink, open_sink
from .sources import ARRAY_HINT, INPUT_FORMATS, Block, Source
from .workers import (
    BlockResult,
    Job,
    MapJob,
    TurnWriter,
    WorkerState,
    init_worker,
    work,
)

ON_ERROR = ("fail", "skip")
SHOWN_SKIPPED = 20  # skipped lines listed in the summary; --skipped FILE gets every one


@dataclass
class Summary:
    """What happened to every input record: ``read == written + len(skipped)``."""

    read: int = 0
    written: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)

    def report(self, command: str, verb: str = "written", skipped_file: str | None = None) -> None:
        skipped = len(self.skipped)
        console.say(f"tp {command}: {self.read} records read, {self.written} {verb}, {skipped} skipped")
        for source, line, reason in self.skipped[:SHOWN_SKIPPED]:
            console.say(f"  skipped {source}:{line}: {reason}")
        if skipped > SHOWN_SKIPPED:
            where = f"all {skipped} are in {skipped_file}" if skipped_file else "--skipped FILE lists them all"
            console.say(f"  … and {skipped - SHOWN_SKIPPED} more ({where})")

    def finish(self, command: str, skipped_file: str | None, quiet: bool, verb: str = "written") -> None:
        """The end of a run: every skipped line to ``skipped_file`` when asked, then the summary."""
        if skipped_file:
            self.write_skipped(skipped_file)
        if not quiet:
            self.report(command, verb, skipped_file)

    def write_skipped(self, path: str) -> None:
        """Every skipped line, one JSON object each (source, line, reason), written atomically."""
        sink = JsonlSink(path)
        try:
            sink.write([encode_jsonl({"source": s, "line": n, "reason": r} for s, n, r in self.skipped)])
        except BaseException:
            sink.abort()
            raise
        sink.commit()


def check_inputs(paths: list[str], on_error: str, input_format: str | None) -> None:
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}")
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
    if not paths and sys.stdin is not None and sys.stdin.isatty():
        raise UsageError("no input: name a file, or pipe records in (use '-' to type them at the terminal)")


def _with_array_hint(errors: list[tuple[int, str]], first: int, source: Source) -> list[tuple[int, str]]:
    """A JSON array on line 1 is told as such, not as the JSON error it gives."""
    if first == 1 and errors[0][0] == 0 and source.array:
        return [(0, ARRAY_HINT)] + errors[1:]
    return errors


@dataclass(slots=True)
class InputLine:
    """One line of an input: its record, or the reason it is not one."""

    source: str
    line: int
    record: dict | None
    raw: bytes | None = None  # the record's JSON line as read; None for Parquet and Arrow rows
    error: str | None = None


def iter_records(paths: list[str], *, on_error: str = "fail", input_format: str | None = None) -> Iterator[InputLine]:
    """Every line of ``paths`` in input order, read in this process, for a caller that takes records
    one at a time (distill plans its requests); the caller decides what a bad line means."""
    check_inputs(paths, on_error, input_format)
    for source in [Source(p, input_format) for p in (paths or ["-"])]:
        first = 1
        for block in source.blocks():
            rows, errors, lines = decode_block(block)
            found = [(offset, InputLine(source.name, first + offset, record, raw)) for offset, record, raw in rows]
            if errors:
                errors = _with_array_hint(errors, first, source)
                found += [
                    (offset, InputLine(source.name, first + offset, None, error=reason)) for offset, reason in errors
                ]
                found.sort(key=lambda pair: pair[0])
            yield from (line for _, line in found)
            first += lines


def run_job(
    paths: list[str],
    job: Job,
    consume: Callable[[Any], None],
    *,
    on_error: str = "fail",
    workers: int | None = None,
    input_format: str | None = None,
    label: str = "",
    direct_fd: int | None = None,
    direct_name: str = "stdout",
    with_line: bool = False,
    fold: Callable[[Any], None] | None = None,
) -> Summary:
    """Run ``job`` over every record of ``paths`` and hand each block's payload,
    in input order, to ``consume`` (with ``with_line``, also the block's first line
    number, so line offsets in a payload become lines of the input; or, given ``direct_fd``, let the workers
    write encoded payloads there themselves; ``direct_name`` names it in errors), and its side value, if any,
    to ``fold``. Raises ``InputError`` on the first bad record unless ``on_error`` is ``skip``."""
    check_inputs(paths, on_error, input_format)
    sources = [Source(p, input_format) for p in (paths or ["-"])]
    summary = Summary()
    blocks = (block for source in sources for block in source.blocks())
    head = [b for _, b in zip(range(2), blocks)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    total = sum(s.size for s in sources) if all(s.size is not None for s in sources) else None
    next_line: dict[str, int] = {}
    by_name = {s.name: s for s in sources}

    def account(block: Block, result: BlockResult) -> None:
        payload, errors = result.payload, result.errors
        first = next_line.get(block.source, 1)
        next_line[block.source] = first + result.lines
        summary.read += result.read
        summary.written += result.produced
        if errors:
            errors = _with_array_hint(errors, first, by_name[block.source])
            if on_error == "fail":
                offset, reason = errors[0]
                raise InputError(block.source, first + offset, reason)
            summary.skipped.extend((block.source, first + offset, reason) for offset, reason in errors)
        if payload is not None:
            consume(payload, first) if with_line else consume(payload)
        if fold is not None and result.side is not None:
            fold(result.side)

    pool, worker = None, WorkerState(job, on_error == "fail")
    if workers > 1 and len(head) > 1:
        pool = _pool(worker, workers, direct_fd, direct_name)
    try:
        with console.progress(label, total) as bar:
            numbered = enumerate(_prepend(head, blocks))
            if pool is None:
                init_worker(worker)
                for seq, block in numbered:
                    account(block, work(block, seq))
                    bar.advance(block.size)
            else:
                in_flight: deque = deque()
                for seq, block in numbered:
                    in_flight.append((block, pool.submit(work, block, seq)))
                    if len(in_flight) >= 2 * workers:
                        done, future = in_flight.popleft()
                        account(done, future.result())
                        bar.advance(done.size)
                while in_flight:
                    done, future = in_flight.popleft()
                    account(done, future.result())
                    bar.advance(done.size)
    except BaseException:
        if pool is not None:
            _stop_workers(pool, worker.writer)  # their blocks are not wanted now
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return summary


def _prepend(head: list[Block], rest: Iterator[Block]) -> Iterator[Block]:
    yield from head
    yield from rest


def _pool(worker: WorkerState, workers: int, direct_fd: int | None, direct_name: str):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork starts workers in milliseconds and shares the job without pickling;
    # the pool is made before any progress thread starts.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    if direct_fd is not None:
        worker.writer = TurnWriter(direct_fd, direct_name, context)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker, initargs=(worker, os.getpid()))


def _stop_workers(pool, writer: TurnWriter | None, grace: float = 5.0) -> None:
    """End a failed or interrupted run's workers: no block is written any more and none waits
    for a turn; each finishes the block in hand (killed mid-result, it could leave the executor
    reading half a message forever), or is killed after ``grace`` seconds (blocked on a pipe
    nobody reads). The executor offers no public way to its processes; its table is stable since 3.2."""
    if writer is not None:
        writer.release()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()


def write_job(
    paths: list[str],
    fn,
    output: str | None,
    *,
    label: str,
    types: dict | None = None,
    fold: Callable[[Any], None] | None = None,
    **options,
) -> Summary:
    """Map every record with the batch function ``fn`` (see ``MapJob``) and write the results to
    ``output``: tp parse, steer and mask. ``types``: Arrow types of the columns ``fn`` owns, for
    Parquet; ``fold``: given each block's side value, in input order, when ``fn`` returns ``Mapped``."""
    sink = open_sink(output, types)
    try:
        summary = run_job(
            paths,
            MapJob(fn, sink.encoding, types),
            sink.write,
            label=label,
            direct_fd=sink.fd,
            direct_name=sink.name,
            fold=fold,
            **options,
        )
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return summary
