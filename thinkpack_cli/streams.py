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
import os
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

import orjson

from . import console
from .errors import InputError, RecordError, UsageError

BLOCK_BYTES = 1 << 20  # measured faster than 2 MB: a block's objects stay within a core's cache
PARQUET_ROWS = 8192
INPUT_FORMATS = ("jsonl", "parquet")
ON_ERROR = ("fail", "skip")
_MAGIC_PARQUET = b"PAR1"
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"


# ---------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Block:
    """A slice of one input: whole JSON lines (bytes, or a byte range of a file the
    worker reads itself), or a Parquet row batch."""

    source: str
    data: Any  # bytes, a FileRange, or a pyarrow.RecordBatch
    size: int  # input bytes the block stands for, for progress


@dataclass(frozen=True, slots=True)
class FileRange:
    path: str
    start: int
    end: int

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), self.end - self.start, self.start)


class Source:
    """One input named on the command line."""

    def __init__(self, path: str, input_format: str | None = None):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.size = None if path == "-" else _file_size(path)
        self.format = input_format

    def blocks(self) -> Iterator[Block]:
        stream = _open_binary(self)
        try:
            kind = self.format or _format_from_name(self.path) or _sniff(stream)
            if kind == "parquet":
                yield from self._parquet_blocks(stream)
                return
            unpacked = _decompress(stream, self.path)
            if unpacked is stream and stream is not sys.stdin.buffer and os.path.isfile(self.path):
                yield from self._range_blocks(stream)
            else:
                yield from self._jsonl_blocks(unpacked)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    def _range_blocks(self, stream) -> Iterator[Block]:
        # Only block boundaries are read here (one line per block); workers read the bytes.
        self._refuse_json_array(stream.peek(64))
        start = 0
        while start < self.size:
            stream.seek(min(start + BLOCK_BYTES, self.size))
            end = min(stream.tell() + len(stream.readline()), self.size)
            yield Block(self.name, FileRange(self.path, start, end), end - start)
            start = end

    def _jsonl_blocks(self, stream) -> Iterator[Block]:
        first = True
        while True:
            data = stream.read(BLOCK_BYTES)
            if not data:
                return
            if not data.endswith(b"\n"):
                data += stream.readline()
            if first:
                self._refuse_json_array(data)
                first = False
            yield Block(self.name, data, len(data))

    def _refuse_json_array(self, head: bytes) -> None:
        if head.lstrip()[:1] == b"[":
            raise InputError(self.name, 1, "a JSON array, not JSON Lines (convert it with: jq -c '.[]')")

    def _parquet_blocks(self, stream) -> Iterator[Block]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if stream is sys.stdin.buffer:  # Parquet needs to seek: hold stdin in memory
            stream = pa.BufferReader(stream.read())
        try:
            parquet = pq.ParquetFile(stream)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(self.name, None, f"not a readable Parquet file ({e})") from None
        total_rows = max(parquet.metadata.num_rows, 1)
        for batch in parquet.iter_batches(batch_size=PARQUET_ROWS):
            yield Block(self.name, batch, (self.size or 0) * batch.num_rows // total_rows)


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None


def _open_binary(source: Source):
    if source.path == "-":
        return sys.stdin.buffer
    try:
        return open(source.path, "rb")
    except OSError as e:
        raise InputError(source.path, None, e.strerror or str(e)) from None


def _format_from_name(path: str) -> str | None:
    name = path.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return None


def _sniff(stream) -> str:
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    return "parquet" if head == _MAGIC_PARQUET else "jsonl"


def _decompress(stream, path: str):
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if head[:2] == _MAGIC_GZIP:
        return gzip.GzipFile(fileobj=stream)
    if head == _MAGIC_ZSTD:
        try:
            import zstandard
        except ImportError:
            raise InputError(path, None, "zstd input needs the zstandard package (pip install zstandard)") from None
        import io

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(stream))
    return stream


def decode_block(block: Block) -> tuple[list[tuple[int, dict, bytes | None]], list[tuple[int, str]], int]:
    """The block's records as (line offset in the block, record, its JSON line or None),
    the lines that are not records, and the number of lines (or rows) it spans."""
    rows: list[tuple[int, dict, bytes | None]] = []
    errors: list[tuple[int, str]] = []
    data = block.data.read() if isinstance(block.data, FileRange) else block.data
    if not isinstance(data, bytes):
        records = data.to_pylist()
        return [(i, r, None) for i, r in enumerate(records)], errors, len(records)
    loads = orjson.loads
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
        dumps = orjson.dumps
        for (line, _, raw), append, result in zip(rows, fresh, results):
            if isinstance(result, RecordError):
                errors.append((line, str(result)))
            elif self.encoding != "jsonl":
                out.append(result)  # records, for a table built below
            elif append:
                out.extend(_append_fields(raw, dumps({k: result[k] for k in appended}, default=_jsonable)))
            else:
                out.append(dumps(result, default=_jsonable) + b"\n")
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
    dumps = orjson.dumps
    return b"".join([dumps(r, default=_jsonable) + b"\n" for r in records])


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


def _init_worker(worker: _Worker) -> None:
    global _worker
    _worker = worker


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

    def __init__(self, fd: int, context):
        self.fd = fd
        self._turn = context.Value("q", 0, lock=False)
        self._stopped = context.Value("b", 0, lock=False)
        self._cond = context.Condition()

    def write_in_turn(self, seq: int, data: bytes | None) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn.value == seq)
        try:
            if data is None:
                self._stopped.value = 1
            elif not self._stopped.value:
                write_pieces(self.fd, data)
        finally:
            with self._cond:
                self._turn.value = seq + 1
                self._cond.notify_all()


# ---------------------------------------------------------------------------- running


@dataclass
class Summary:
    """What happened to every input record: ``read == written + len(skipped)``."""

    read: int = 0
    written: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)

    def report(self, command: str, verb: str = "written") -> None:
        skipped = len(self.skipped)
        console.say(f"tp {command}: {self.read} records read, {self.written} {verb}, {skipped} skipped")
        for source, line, reason in self.skipped[:20]:
            console.say(f"  skipped {source}:{line}: {reason}")
        if skipped > 20:
            console.say(f"  … and {skipped - 20} more")


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
    with_line: bool = False,
) -> Summary:
    """Run ``job`` over every record of ``paths`` and hand each block's payload,
    in input order, to ``consume`` (with ``with_line``, also the block's first line
    number, so line offsets in a payload become lines of the input; or, given ``direct_fd``, let the workers
    write encoded payloads there themselves). Raises ``InputError`` on the first
    bad record unless ``on_error`` is ``skip``."""
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}")
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
    if not paths and sys.stdin.isatty():
        raise UsageError("no input: name a file, or pipe records in (use '-' to type them at the terminal)")
    sources = [Source(p, input_format) for p in (paths or ["-"])]
    summary = Summary()
    blocks = (block for source in sources for block in source.blocks())
    head = [b for _, b in zip(range(2), blocks)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    total = sum(s.size for s in sources) if all(s.size is not None for s in sources) else None
    next_line: dict[str, int] = {}

    def account(block: Block, result) -> None:
        payload, errors, read, produced, lines = result
        first = next_line.get(block.source, 1)
        next_line[block.source] = first + lines
        summary.read += read
        summary.written += produced
        if errors:
            if on_error == "fail":
                offset, reason = errors[0]
                raise InputError(block.source, first + offset, reason)
            summary.skipped.extend((block.source, first + offset, reason) for offset, reason in errors)
        if payload is not None:
            consume(payload, first) if with_line else consume(payload)

    pool = None
    if workers > 1 and len(head) > 1:
        pool = _pool(_Worker(job, on_error == "fail"), workers, direct_fd)
    try:
        with console.progress(label, total) as bar:
            numbered = enumerate(_prepend(head, blocks))
            if pool is None:
                _init_worker(_Worker(job, on_error == "fail"))
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
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return summary


def _prepend(head: list[Block], rest: Iterator[Block]) -> Iterator[Block]:
    yield from head
    yield from rest


def _pool(worker: _Worker, workers: int, direct_fd: int | None):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork starts workers in milliseconds and shares the job without pickling;
    # the pool is made before any progress thread starts.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    if direct_fd is not None:
        worker.writer = _TurnWriter(direct_fd, context)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(worker,))


# ---------------------------------------------------------------------------- writing


class Sink(Protocol):
    encoding: str
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


def _temp_beside(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return temp


def _real_fd(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stream, as in tests
        return None


class JsonlSink:
    encoding = "jsonl"

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else path
        if self.path is None:
            self._file, self._temp = sys.stdout.buffer, None
            self._file.flush()
            self.fd = _real_fd(self._file)
        else:
            self._temp = _temp_beside(self.path)
            compressed = self.path.endswith(".gz")
            self._file = (gzip.open if compressed else open)(self._temp, "wb")
            self.fd = None if compressed else self._file.fileno()

    def write(self, pieces: list) -> None:
        if pieces:
            self._file.writelines(pieces)
            if self._temp is None:
                self._file.flush()  # let the next command in a pipe start at once

    def commit(self) -> None:
        if self._temp is None:
            self._file.flush()
            return
        self._file.close()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        if self._temp is not None:
            self._file.close()
            os.unlink(self._temp)


class ParquetSink:
    """Parquet whose schema grows with the data: a block the file's schema cannot hold
    (a field first seen late, a column null in every earlier record) has what was
    written so far rewritten under the unified schema, once per change; fields whose
    types cannot unify (a number here, text there) are an error naming them."""

    encoding = "arrow"
    fd = None

    def __init__(self, path: str, schema=None, types: dict | None = None):
        self.path = path
        self._temp = _temp_beside(path)
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
        written, self._temp = self._temp, _temp_beside(self.path)
        self._writer = pq.ParquetWriter(self._temp, unified)
        for batch in pq.ParquetFile(written).iter_batches():
            self._writer.write_table(_conform(pa.Table.from_batches([batch]), unified))
        os.unlink(written)
        self._schema = unified

    def commit(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:  # no records: still a valid, empty file
            self._writer = pq.ParquetWriter(self._temp, self._schema or pa.schema(list((self.types or {}).items())))
        self._writer.close()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        os.unlink(self._temp)


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
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(f"cannot write Parquet: field {name!r} changes type between records ({e}); write JSONL instead") from None
    return pa.table(columns)


def write_job(paths: list[str], job_fn, output: str | None, *, label: str, **options) -> Summary:
    """Map every record with ``job_fn`` and write the results to ``output``."""
    sink = open_sink(output)
    try:
        summary = run_job(paths, MapJob(job_fn, sink.encoding), sink.write, label=label, direct_fd=sink.fd, **options)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return summary
