"""Streaming I/O used by every command: read, batch, fan out to workers, write, rename.

Inputs are JSON Lines (optionally ``.gz``/``.zst``) or Parquet, from paths or ``-``
(stdin). They are cut into blocks (a few MB of whole lines, or a Parquet row
batch). Worker processes decode a block, run a command's job on its records and
encode the result. The main process only coordinates: for a plain file it hands
out byte ranges that workers read themselves, and workers write their output
straight to the output file or stdout, each block in its turn, so no data
passes through the main process and every core does JSON work. Blocks stay in
input order with a bounded number in flight, so memory is flat whatever the
input size.

Every record is accounted for: it is written (or counted), or it is a
``RecordError`` that either stops the run naming file, line and reason
(``--on-error fail``) or is counted as skipped with its line
(``--on-error skip``). File outputs go to a temporary file in the same folder
and are renamed into place only when the run succeeds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import stat
import sys
import tempfile
import time
import zlib
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

import orjson

from . import console, interrupts, more_inputs
from .errors import InputError, OutputError, RecordError, UsageError

BLOCK_BYTES = 1 << 20  # measured faster than 2 MB: a block's objects stay within a core's cache
PARQUET_ROWS = 8192
INPUT_FORMATS = ("jsonl", "parquet", "arrow")
ON_ERROR = ("fail", "skip")
SHOWN_SKIPPED = 20  # skipped lines listed in the summary; --skipped FILE gets every one
_MAGIC_PARQUET = b"PAR1"
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"
_ARRAY_HINT = "a JSON array, not JSON Lines (convert it with: jq -c '.[]')"


# ---------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Block:
    """A slice of one input: whole JSON lines (bytes, or a byte range of a file the
    worker reads itself), or a Parquet row batch."""

    source: str
    data: Any  # bytes, a FileRange, or a pyarrow.RecordBatch
    size: int  # input bytes the block stands for, for progress


class _HeldFd:
    """An input's file descriptor, held open while any block still reads from it (CPython
    closes it as soon as the last such block is done with)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int):
        self.fd = fd

    def __del__(self):
        os.close(self.fd)


class FileRange:
    """Bytes ``start:end`` of an input the main process holds open. A worker reads them
    through ``/proc/<main>/fd/<fd>``: the very file opened, even if it was replaced or
    removed since (elsewhere, by its path)."""

    __slots__ = ("path", "start", "end", "name", "held")

    def __init__(self, path: str, start: int, end: int, name: str, held: _HeldFd | None = None):
        self.path, self.start, self.end, self.name, self.held = path, start, end, name, held

    def __reduce__(self):  # the held descriptor stays in the main process
        return FileRange, (self.path, self.start, self.end, self.name)

    def read(self) -> bytes:
        try:
            if self.held is not None:
                return os.pread(self.held.fd, self.end - self.start, self.start)
            with open(self.path, "rb") as f:
                return os.pread(f.fileno(), self.end - self.start, self.start)
        except OSError as e:
            raise InputError(self.name, None, e.strerror or str(e)) from None


class Source:
    """One input named on the command line, opened once, when its blocks are first asked for."""

    def __init__(self, path: str, input_format: str | None = None):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.remote = more_inputs.is_remote(path)  # s3://, hf://, … through fsspec
        # for progress: the data read is the opened file's
        self.size = None if path == "-" else more_inputs.remote_size(path) if self.remote else _file_size(path)
        self.format = input_format
        self.array = False  # its first line opens a JSON array: the error there says so

    def blocks(self) -> Iterator[Block]:
        if more_inputs.is_arrow(self.path, self.format):  # a save_to_disk folder or an Arrow IPC file
            yield from more_inputs.arrow_blocks(self, PARQUET_ROWS)
            return
        stream = _open_binary(self)
        try:
            head = _peek(stream, 64)
            kind = self.format or ("parquet" if head[:4] == _MAGIC_PARQUET else None)
            kind = kind or _format_from_name(self.path) or "jsonl"
            if kind == "parquet":
                yield from self._parquet_blocks(stream)
                return
            chunks = _unpacked(stream, head, self)
            if chunks is None and not self.remote and self.path != "-" and _is_regular(stream):
                yield from self._range_blocks(stream, head)
            else:
                yield from self._line_blocks(chunks or _raw_chunks(stream, self.name))
        finally:
            if self.path != "-":
                stream.close()

    def _range_blocks(self, stream, head: bytes) -> Iterator[Block]:
        # Only block boundaries are read here (one line per block); workers read the bytes.
        size = os.fstat(stream.fileno()).st_size
        held = _HeldFd(os.dup(stream.fileno()))
        path = f"/proc/{os.getpid()}/fd/{held.fd}" if os.path.isdir("/proc/self/fd") else self.path
        start = len(_BOM) if head.startswith(_BOM) else 0
        self.array = head[start:].lstrip()[:1] == b"["
        while start < size:
            stream.seek(min(start + BLOCK_BYTES, size))
            end = min(stream.tell() + len(stream.readline()), size)
            yield Block(self.name, FileRange(path, start, end, self.name, held), end - start)
            start = end

    def _line_blocks(self, chunks: Iterator[bytes]) -> Iterator[Block]:
        """Blocks of whole lines from a stream of byte chunks (stdin, a pipe, a decompressor)."""
        parts: list[bytes] = []
        size, first = 0, True
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size < BLOCK_BYTES:
                continue
            data = b"".join(parts)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield self._block(data[:cut], first)
                first = False
                data = data[cut:]
            parts, size = ([data] if data else []), len(data)
        if parts:
            yield self._block(b"".join(parts), first)

    def _block(self, data: bytes, first: bool) -> Block:
        if first:
            data = data.removeprefix(_BOM)
            self.array = data.lstrip()[:1] == b"["
        return Block(self.name, data, len(data))

    def _parquet_blocks(self, stream) -> Iterator[Block]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if not stream.seekable():  # Parquet needs to seek: hold a pipe's bytes in memory
                stream = pa.BufferReader(stream.read())
            parquet = pq.ParquetFile(stream)
            total_rows = max(parquet.metadata.num_rows, 1)
            for batch in parquet.iter_batches(batch_size=PARQUET_ROWS):
                yield Block(self.name, batch, (self.size or 0) * batch.num_rows // total_rows)
        except (pa.ArrowException, OSError) as e:  # a bad footer, or a corrupt page in the middle
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise InputError(self.name, None, f"not a readable Parquet file ({first_line})") from None


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None


def _open_binary(source: Source):
    """The input as a buffered binary stream; closing it leaves stdin open. A pipe or FIFO is
    read through ``interrupts.PipeReader``, so a signal cannot wait behind a blocked read."""
    if source.remote:
        return more_inputs.open_remote(source.path)
    if source.path == "-":
        if sys.stdin is None:
            raise UsageError("no input: stdin is closed (name a file)")
        try:
            stream = open(sys.stdin.fileno(), "rb", closefd=False)
        except (OSError, ValueError, io.UnsupportedOperation):  # an in-memory stdin (a test runner's)
            return sys.stdin.buffer
    else:
        try:
            stream = open(source.path, "rb")
        except OSError as e:
            raise InputError(source.path, None, e.strerror or str(e)) from None
    if _is_regular(stream):
        return stream
    return io.BufferedReader(interrupts.PipeReader(stream.detach(), source.name))


def _is_regular(stream) -> bool:
    return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)


def _peek(stream, n: int) -> bytes:
    try:
        return stream.peek(n)[:n] if hasattr(stream, "peek") else b""
    except OSError as e:
        raise InputError(getattr(stream, "name", "<stdin>"), None, e.strerror or str(e)) from None


def _format_from_name(path: str) -> str | None:
    name = path.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return None


def _unpacked(stream, head: bytes, source: Source) -> Iterator[bytes] | None:
    """The decompressed chunks of a gzip or zstd stream (told by its first bytes), or None
    for an uncompressed one. A compressed name on bytes that are not is an error, not JSONL."""
    if head[:2] == _MAGIC_GZIP:
        return _gzip_chunks(stream, source.name)
    if head[:4] == _MAGIC_ZSTD:
        return _zstd_chunks(stream, source.name)
    for suffix, kind in ((".gz", "gzip"), (".zst", "zstd")):
        if source.path.lower().endswith(suffix):
            raise InputError(source.name, None, f"not {kind} data, though the name ends in {suffix}")
    return None


def _raw_chunks(stream, name: str) -> Iterator[bytes]:
    try:
        while chunk := stream.read(BLOCK_BYTES):
            yield chunk
    except OSError as e:
        raise InputError(name, None, e.strerror or str(e)) from None


def _gzip_chunks(stream, name: str) -> Iterator[bytes]:
    reader = gzip.GzipFile(fileobj=stream)
    try:
        while chunk := reader.read(BLOCK_BYTES):
            yield chunk
    except EOFError:
        raise InputError(name, None, "truncated gzip data: the stream ends before its end marker") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise InputError(name, None, f"corrupt gzip data ({e})") from None


def _zstd_chunks(stream, name: str) -> Iterator[bytes]:
    """Decompressed zstd frames, one after another; a stream cut inside a frame is an error
    (zstandard's stream_reader returns what it has, silently)."""
    try:
        import zstandard
    except ImportError:
        raise InputError(name, None, "zstd input needs the zstandard package (pip install zstandard)") from None
    decompressor = zstandard.ZstdDecompressor()
    frame, inside = decompressor.decompressobj(), False
    try:
        while data := stream.read(BLOCK_BYTES):
            while data:
                inside = True
                out = frame.decompress(data)
                if out:
                    yield out
                if not frame.eof:
                    break
                data, frame, inside = frame.unused_data, decompressor.decompressobj(), False
    except zstandard.ZstdError as e:
        raise InputError(name, None, f"corrupt zstd data ({e})") from None
    except OSError as e:
        raise InputError(name, None, e.strerror or str(e)) from None
    if inside:
        raise InputError(name, None, "truncated zstd data: the stream ends inside a frame")


def decode_block(block: Block) -> tuple[list[tuple[int, dict, bytes | None]], list[tuple[int, str]], int]:
    """The block's records as (line offset in the block, record, its JSON line or None),
    the lines that are not records, and the number of lines (or rows) it spans."""
    rows: list[tuple[int, dict, bytes | None]] = []
    errors: list[tuple[int, str]] = []
    data = block.data.read() if isinstance(block.data, FileRange) else block.data
    if not isinstance(data, bytes):
        records = data.to_pylist()
        return [(i, r, None) for i, r in enumerate(records)], errors, len(records)
    loads = _loads if _LONG_NUMBER.search(data) else orjson.loads  # one scan spares the rest of the blocks
    lines = data.split(b"\n")
    for offset, raw in enumerate(lines):
        if raw and not raw.isspace():
            try:
                record = loads(raw)
            except orjson.JSONDecodeError as e:
                errors.append((offset, _json_reason(e)))
            else:
                if type(record) is dict:
                    rows.append((offset, record, raw))
                else:
                    errors.append((offset, f"not a JSON object (a {_json_type(record)})"))
    return rows, errors, len(lines) - 1


# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(rb"\d{19}")


def _loads(raw: bytes) -> Any:
    """orjson decides what is valid JSON; a line with a long number is read again by the
    standard library, whose integers are exact at any size."""
    value = orjson.loads(raw)
    return json.loads(raw) if _LONG_NUMBER.search(raw) else value


def dumps(value: Any) -> bytes:
    """A value as compact JSON; integers beyond 64 bits (which orjson refuses) are written exactly."""
    try:
        return orjson.dumps(value, default=_jsonable)
    except orjson.JSONEncodeError as e:
        if "64-bit" not in str(e):
            raise
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable).encode()


def _json_reason(error: orjson.JSONDecodeError) -> str:
    message = str(error)
    if "UTF-8" in message or "surrogate" in message:
        return "invalid UTF-8"
    return f"malformed JSON ({message})"


def _json_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")


# ---------------------------------------------------------------------------- jobs


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
        fresh = [appended is not None and raw is not None and not any(k in record for k in appended)
                 for _, record, raw in rows]
        results = self.fn([record for _, record, _ in rows])
        out, errors = (Pieces() if self.encoding == "jsonl" else []), []
        for (line, _, raw), append, result in zip(rows, fresh, results):
            if isinstance(result, RecordError):
                errors.append((line, str(result)))
            elif self.encoding != "jsonl":
                out.append(result)  # records, for a table built below
            elif append:
                out.extend(_append_fields(raw, dumps({k: result[k] for k in appended})))
            else:
                out.append(dumps(result) + b"\n")
        # JSONL leaves as a list of byte pieces: written with writev, never joined into one copy;
        # Parquet as an Arrow table built here, in the worker.
        payload = to_table(out) if self.encoding == "arrow" and out else out
        return payload, errors, len(results) - len(errors)


class Pieces(list):
    """Encoded JSONL as byte pieces, written with writev; sent to another process, as one bytes."""

    def __reduce__(self):
        return Pieces, ([b"".join(self)],)


_SPACE = b" \t\r\n"


def _append_fields(line: bytes, fields: bytes) -> tuple:
    """The pieces of ``line`` (a JSON object) with the members of ``fields`` (another)
    added at its end; the line is not copied until the block is joined."""
    end = line.rfind(b"}")
    last = end - 1
    while line[last] in _SPACE:
        last -= 1
    return memoryview(line)[:end], (b"" if line[last] == 0x7B else b","), memoryview(fields)[1:], b"\n"


def encode_jsonl(records: Iterable[dict]) -> bytes:
    return b"".join([dumps(r) + b"\n" for r in records])


def _jsonable(value: Any):
    """Values Parquet can hold and JSON cannot (bytes, decimals, …) are written as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


@dataclass
class _Worker:
    """What a worker process holds for the whole run."""

    job: Job
    stop_on_error: bool
    writer: Any = None  # a _TurnWriter when workers write their output themselves


_worker: _Worker | None = None


def _init_worker(worker: _Worker, parent: int | None = None) -> None:
    global _worker
    _worker = worker
    if parent is not None:
        interrupts.bind_worker(parent)


def _work(block: Block, seq: int):
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
    return (None if _worker.writer is not None else payload), errors, read, produced, lines


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


class _TurnWriter:
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


# ---------------------------------------------------------------------------- running


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
) -> Summary:
    """Run ``job`` over every record of ``paths`` and hand each block's payload,
    in input order, to ``consume`` (with ``with_line``, also the block's first line
    number, so line offsets in a payload become lines of the input; or, given ``direct_fd``, let the workers
    write encoded payloads there themselves; ``direct_name`` names it in errors). Raises ``InputError`` on the first
    bad record unless ``on_error`` is ``skip``."""
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}")
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
    if not paths and sys.stdin is not None and sys.stdin.isatty():
        raise UsageError("no input: name a file, or pipe records in (use '-' to type them at the terminal)")
    sources = [Source(p, input_format) for p in (paths or ["-"])]
    summary = Summary()
    blocks = (block for source in sources for block in source.blocks())
    head = [b for _, b in zip(range(2), blocks)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    total = sum(s.size for s in sources) if all(s.size is not None for s in sources) else None
    next_line: dict[str, int] = {}
    arrays = {s.name: s for s in sources}

    def account(block: Block, result) -> None:
        payload, errors, read, produced, lines = result
        first = next_line.get(block.source, 1)
        next_line[block.source] = first + lines
        summary.read += read
        summary.written += produced
        if errors:
            if first == 1 and errors[0][0] == 0 and arrays[block.source].array:
                errors = [(0, _ARRAY_HINT)] + errors[1:]
            if on_error == "fail":
                offset, reason = errors[0]
                raise InputError(block.source, first + offset, reason)
            summary.skipped.extend((block.source, first + offset, reason) for offset, reason in errors)
        if payload is not None:
            consume(payload, first) if with_line else consume(payload)

    pool, worker = None, _Worker(job, on_error == "fail")
    if workers > 1 and len(head) > 1:
        pool = _pool(worker, workers, direct_fd, direct_name)
    try:
        with console.progress(label, total) as bar:
            numbered = enumerate(_prepend(head, blocks))
            if pool is None:
                _init_worker(worker)
                for seq, block in numbered:
                    account(block, _work(block, seq))
                    bar.advance(block.size)
            else:
                in_flight: deque = deque()
                for seq, block in numbered:
                    in_flight.append((block, pool.submit(_work, block, seq)))
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


def _pool(worker: _Worker, workers: int, direct_fd: int | None, direct_name: str):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork starts workers in milliseconds and shares the job without pickling;
    # the pool is made before any progress thread starts.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    if direct_fd is not None:
        worker.writer = _TurnWriter(direct_fd, direct_name, context)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(worker, os.getpid()))


def _stop_workers(pool, writer: _TurnWriter | None, grace: float = 5.0) -> None:
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


# ---------------------------------------------------------------------------- writing


class Sink(Protocol):
    encoding: str
    name: str  # for messages: the path, or stdout
    fd: int | None  # where workers may write encoded JSONL themselves, if anywhere

    def write(self, payload: Any) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def output_format(path: str | None) -> str:
    if path in (None, "-"):
        return "jsonl"
    found = _format_from_name(path)
    if found is None:
        raise UsageError(f"cannot tell the output format of {path}: name it .jsonl, .jsonl.gz or .parquet")
    return found


def open_sink(path: str | None, types: dict | None = None) -> Sink:
    """stdout (JSONL) for None or ``-``; otherwise a file written atomically.
    ``types``: Arrow types of the columns a command owns, for Parquet."""
    if output_format(path) == "parquet":
        return ParquetSink(path, types=types)
    return JsonlSink(path)


def _target(path: str) -> str:
    """The file that ``-o path`` replaces: through a symlink, its target (the link stays a link)."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise UsageError(f"cannot write {path}: it is a folder")
    if not os.path.isdir(os.path.dirname(target)):
        raise UsageError(f"cannot write {path}: folder {os.path.dirname(os.path.abspath(path))} does not exist")
    return target


def _temp_beside(target: str, shown: str) -> str:
    """A temporary file beside ``target``, with the mode the finished output should have."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=os.path.dirname(target))
    except OSError as e:  # a read-only folder, a full disk
        raise OutputError(shown, e) from None
    try:
        os.fchmod(fd, _mode(target))  # mkstemp makes 0600, which no teammate or container could read
    finally:
        os.close(fd)
    return temp


def _mode(target: str) -> int:
    """A replaced file keeps its mode; a new one gets what the umask allows, as with ``>``."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def _writing(where: str):
    """OS errors while writing ``where`` become one-line output errors; a closed pipe stays one."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(where, e) from None


def _discard(file, temp: str) -> None:
    """Close and remove a failed run's temporary file; closing may fail again (a full disk)."""
    try:
        if file is not None:
            file.close()
    except OSError:
        pass  # the run has failed already, and the file goes either way
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def _real_fd(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stream, as in tests
        return None


class JsonlSink:
    encoding = "jsonl"

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else path
        self.name = self.path or "stdout"
        if self.path is None:
            if sys.stdout is None:
                raise OutputError("stdout", "it is closed (name an output file with -o)")
            self._file, self._temp = sys.stdout.buffer, None
            with _writing(self.name):
                self._file.flush()
            self.fd = _real_fd(self._file)
        else:
            self._target = _target(self.path)
            self._temp = _temp_beside(self._target, self.path)
            compressed = self.path.endswith(".gz")
            self._file = (gzip.open if compressed else open)(self._temp, "wb")
            self.fd = None if compressed else self._file.fileno()

    def write(self, pieces: list) -> None:
        if pieces:
            with _writing(self.name):
                self._file.writelines(pieces)
                if self._temp is None:
                    self._file.flush()  # let the next command in a pipe start at once

    def commit(self) -> None:
        try:
            with _writing(self.name):
                if self._temp is None:
                    self._file.flush()
                    return
                self._file.close()
                os.replace(self._temp, self._target)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._temp is not None:
            _discard(self._file, self._temp)


class ParquetSink:
    """Parquet whose schema grows with the data: a block the file's schema cannot hold
    (a field first seen late, a column null in every earlier record) has what was
    written so far rewritten under the unified schema, once per change; fields whose
    types cannot unify (a number here, text there) are an error naming them."""

    encoding = "arrow"
    fd = None

    def __init__(self, path: str, schema=None, types: dict | None = None):
        self.path = self.name = path
        self._target = _target(path)
        self._temp = _temp_beside(self._target, path)
        self._schema = schema
        self.types = types  # Arrow types of owned columns (tp mask's list<int32>); the rest are inferred
        self._writer = None

    def write(self, batch) -> None:
        """Writes a list of records, or a table that ``to_table`` made in a worker."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not len(batch):
            return
        table = batch if isinstance(batch, pa.Table) else to_table(batch, self.types or {})
        with _writing(self.path):
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self._temp, self._schema)
            elif not set(table.column_names) <= set(self._schema.names) or not _fits(table, self._schema):
                self._widen(table.schema)
            self._writer.write_table(_conform(table, self._schema))

    def _widen(self, schema) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            unified = pa.unify_schemas([self._schema, schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(f"cannot write {self.path}: a field changes type between records ({e}); write JSONL instead") from None
        self._writer.close()
        written, self._temp = self._temp, _temp_beside(self._target, self.path)
        try:
            self._writer = None
            self._writer = pq.ParquetWriter(self._temp, unified)
            for batch in pq.ParquetFile(written).iter_batches():
                self._writer.write_table(_conform(pa.Table.from_batches([batch]), unified))
        finally:
            os.unlink(written)
        self._schema = unified

    def commit(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with _writing(self.path):
                if self._writer is None:  # no records: still a valid, empty file
                    schema = self._schema or pa.schema(list((self.types or {}).items()))
                    self._writer = pq.ParquetWriter(self._temp, schema)
                self._writer.close()
                os.replace(self._temp, self._target)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        _discard(self._writer, self._temp)


def _conform(table, schema):
    """``table`` with ``schema``'s columns, in its order and types (nulls for the ones it lacks)."""
    import pyarrow as pa

    for column in schema:
        if column.name not in table.column_names:
            table = table.append_column(column.name, pa.nulls(len(table), column.type))
    return table.select(schema.names).cast(schema)


def _fits(table, schema) -> bool:
    return all(table.schema.field(name).type == schema.field(name).type for name in table.column_names)


def to_table(records: list[dict], types: dict | None = None):
    """Records as an Arrow table with a column for every field any of them has, in
    first-seen order (``pa.Table.from_pylist`` takes the first record's fields alone),
    built column by column (several times faster for lists of token ids), with
    ``types`` for the columns they name. Run in a worker, it spares the main process."""
    import pyarrow as pa

    types = types or {}
    columns = {}
    for name in dict.fromkeys(name for record in records for name in record):
        try:
            columns[name] = pa.array([r.get(name) for r in records], type=types.get(name))
        except OverflowError:
            raise UsageError(f"cannot write Parquet: field {name!r} holds an integer beyond 64 bits; write JSONL instead") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(f"cannot write Parquet: field {name!r} changes type between records ({e}); write JSONL instead") from None
    return pa.table(columns)


def write_job(paths: list[str], job_fn, output: str | None, *, label: str, **options) -> Summary:
    """Map every record with ``job_fn`` and write the results to ``output``."""
    sink = open_sink(output)
    try:
        summary = run_job(paths, MapJob(job_fn, sink.encoding), sink.write, label=label, direct_fd=sink.fd,
                          direct_name=sink.name, **options)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return summary
