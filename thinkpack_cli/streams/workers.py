"""What runs in a worker process: a job over one block's records, and the turn-taking that writes
blocks in input order straight to the output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .. import interrupts
from ..errors import OutputError, RecordError
from .codec import Pieces, append_fields, decode_block, dumps
from .sinks import to_table
from .sources import Block


class Job(Protocol):
    """A command's work on one block of records, run inside a worker process.

    Returns the block's payload (encoded JSONL as ``Pieces``, records, or a partial
    aggregate), the records it rejected as ``(line offset, reason)``, and how many
    records it produced.
    """

    def run(self, rows: list[tuple[int, dict]]) -> tuple[Any, list[tuple[int, str]], int]: ...


@dataclass
class MapJob:
    """Maps records one to one with ``fn`` and encodes them for the sink.

    ``fn`` takes a list of records and returns, for each, the new record or a
    ``RecordError``: batch-shaped, so it can tokenize a whole block at once. An
    ``fn`` that only adds fields says which in ``fn.appended_fields``; those are
    then appended to the record's original JSON line, so every other field
    passes through byte for byte and is not encoded again.
    """

    fn: Callable[[list[dict]], list[dict | RecordError]]
    encoding: str = "jsonl"

    def run(self, rows):
        appended = getattr(self.fn, "appended_fields", None) if self.encoding == "jsonl" else None
        # A record that already holds one of those fields is encoded whole, or it would hold it twice.
        fresh = [
            appended is not None and raw is not None and not any(k in record for k in appended)
            for _, record, raw in rows
        ]
        results = self.fn([record for _, record, _ in rows])
        out, errors = (Pieces() if self.encoding == "jsonl" else []), []
        for (line, _, raw), append, result in zip(rows, fresh, results):
            if isinstance(result, RecordError):
                errors.append((line, str(result)))
            elif self.encoding != "jsonl":
                out.append(result)  # records, for a table built below
            elif append:
                out.extend(append_fields(raw, dumps({k: result[k] for k in appended})))
            else:
                out.append(dumps(result) + b"\n")
        # JSONL leaves as a list of byte pieces: written with writev, never joined into one copy;
        # Parquet as an Arrow table built here, in the worker.
        payload = to_table(out) if self.encoding == "arrow" and out else out
        return payload, errors, len(results) - len(errors)


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


@dataclass(slots=True)
class BlockResult:
    """What a worker sends back for one block (its payload only when the main process writes it)."""

    payload: Any
    errors: list[tuple[int, str]]  # (line offset in the block, reason), in order
    read: int  # records and bad lines
    produced: int
    lines: int  # the lines (or rows) the block spans


def work(block: Block, seq: int) -> BlockResult:
    payload, errors, read, produced, lines = None, [], 0, 0, 0
    try:
        rows, errors, lines = decode_block(block)
        read = len(rows) + len(errors)
        payload, rejected, produced = _worker.job.run(rows)
        if rejected:
            errors = sorted(errors + rejected)
    finally:
        if _worker.writer is not None:
            # The turn is passed on even when this block failed, or the workers behind it would wait forever.
            stop = payload is None or (bool(errors) and _worker.stop_on_error)
            _worker.writer.write_in_turn(seq, None if stop else payload)
    return BlockResult(None if _worker.writer is not None else payload, errors, read, produced, lines)


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
