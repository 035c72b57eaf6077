"""What runs in a worker process: a job over one block's records, and the turn-taking that writes
blocks in input order straight to the output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .. import interrupts
from ..errors import OutputError, RecordError
from .codec import Pieces, append_fields, decode_block, dumps
from .sinks import ParquetPart, to_table
from .sources import Block


class Job(Protocol):
    """A command's work on one block of records, run inside a worker process: the block's
    ``BlockResult`` (its payload, encoded JSONL as ``Pieces``, an Arrow table, records or a partial
    aggregate; the records it rejected; how many it produced; and any side value)."""

    def run(self, rows: list[tuple[int, dict, bytes | None]]) -> BlockResult: ...


@dataclass(slots=True)
class BlockResult:
    """What a job makes of one block, and what a worker sends back for it (the payload only when
    the main process writes it; ``read`` and ``lines`` are filled in by ``work``)."""

    payload: Any
    errors: list[tuple[int, str]]  # (line offset in the block, reason), in order
    produced: int
    side: Any = None  # a small value beside the data (tp mask's tally and views), folded in input order
    read: int = 0  # records and bad lines
    lines: int = 0  # the lines (or rows) the block spans


@dataclass(slots=True)
class Mapped:
    """What a batch function returns when it has, beside its results, a small value for the
    whole run (tp mask's tally and token views): ``write_job`` hands each block's ``side`` to its
    ``fold``, in input order, while the results are written like any other."""

    results: list
    side: Any


@dataclass
class MapJob:
    """Maps records one to one with ``fn`` and encodes them for the sink.

    ``fn`` takes a list of records and returns, for each, the new record, a ``RecordError``, or
    None to leave it out (counted neither written nor skipped: tp mask's ``--overflow drop``);
    as a list, or as ``Mapped`` with a side value. Batch-shaped, so it can tokenize a whole block
    at once. An ``fn`` that only adds fields says which in ``fn.appended_fields``; those are
    then appended to the record's original JSON line, so every other field passes through byte
    for byte and is not encoded again. ``types``: Arrow types of the columns ``fn`` owns.
    """

    fn: Callable[[list[dict]], list[dict | RecordError | None] | Mapped]
    encoding: str = "jsonl"
    types: dict | None = None

    def run(self, rows) -> BlockResult:
        appended = getattr(self.fn, "appended_fields", None) if self.encoding == "jsonl" else None
        # A record that already holds one of those fields is encoded whole, or it would hold it twice.
        fresh = [
            appended is not None and raw is not None and not any(k in record for k in appended)
            for _, record, raw in rows
        ]
        results, side = self.fn([record for _, record, _ in rows]), None
        if isinstance(results, Mapped):
            results, side = results.results, results.side
        out, errors = (Pieces() if self.encoding == "jsonl" else []), []
        produced = 0
        for (line, _, raw), append, result in zip(rows, fresh, results):
            if result is None:
                continue
            if isinstance(result, RecordError):
                errors.append((line, str(result)))
                continue
            produced += 1
            if self.encoding != "jsonl":
                out.append(result)  # records, for a table built below
            elif append:
                out.extend(append_fields(raw, dumps({k: result[k] for k in appended})))
            else:
                out.append(dumps(result) + b"\n")
        # JSONL leaves as a list of byte pieces: written with writev, never joined into one copy;
        # Parquet encoded here, in the worker, for the sink to copy into the output as it is.
        payload = ParquetPart.of(to_table(out, self.types)) if self.encoding == "parquet" and out else out
        return BlockResult(payload, errors, produced, side)


@dataclass
class WorkerState:
    """What a worker process holds for the whole run."""

    job: Job
    stop_on_error: bool
    writer: Any = None  # a TurnWriter when workers write their output themselves


_worker: WorkerState | None = None


def init_worker(worker: WorkerState, parent: int | None = None) -> None:
    global _worker
    _worker = worker
    if parent is not None:
        interrupts.bind_worker(parent)


def work(block: Block, seq: int) -> BlockResult:
    result, errors, read, lines = None, [], 0, 0
    try:
        rows, errors, lines = decode_block(block)
        read = len(rows) + len(errors)
        result = _worker.job.run(rows)
        if result.errors:
            errors = sorted(errors + result.errors)
    finally:
        if _worker.writer is not None:
            # The turn is passed on even when this block failed, or the workers behind it would wait forever.
            stop = result is None or (bool(errors) and _worker.stop_on_error)
            _worker.writer.write_in_turn(seq, None if stop else result.payload)
    result.errors, result.read, result.lines = errors, read, lines
    if _worker.writer is not None:
        result.payload = None  # written already: only the accounting goes back
    return result


_IOV_MAX = 1024  # the most buffers one writev takes on Linux


def write_pieces(fd: int, pieces: list) -> None:
    """Write byte pieces to ``fd`` in order, with as few system calls as it takes."""
    for i in range(0, len(pieces), _IOV_MAX):
        chunk = pieces[i : i + _IOV_MAX]
        written = os.writev(fd, chunk)
        if written < sum(map(len, chunk)):  # a pipe took part of it: finish plainly
            rest = memoryview(b"".join(chunk))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


class TurnWriter:
    """Lets workers write blocks straight to one file descriptor in input order.

    A worker waits until the blocks before its own are written, writes, and
    passes the turn on. After a block that stops the run, nothing more is written.
    """

    def __init__(self, fd: int, name: str, context):
        self.fd, self.name = fd, name
        self._turn = context.Value("q", 0, lock=False)
        self._stopped = context.Value("b", 0, lock=False)
        self._cond = context.Condition()

    def release(self) -> None:
        """Stop the run's writing: every waiting worker goes on at once, and writes nothing."""
        with self._cond:
            self._stopped.value = 1
            self._turn.value = 1 << 62
            self._cond.notify_all()

    def write_in_turn(self, seq: int, data: bytes | None) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn.value >= seq)
        try:
            if data is None:
                self._stopped.value = 1
            elif not self._stopped.value:
                try:
                    write_pieces(self.fd, data)
                except BrokenPipeError:
                    raise
                except OSError as e:  # a full disk, a closed stdout
                    self._stopped.value = 1
                    raise OutputError(self.name, e) from None
        finally:
            with self._cond:
                self._turn.value = max(self._turn.value, seq + 1)
                self._cond.notify_all()
