"""Streaming I/O used by every command: read, batch, fan out to workers, write, rename.

Inputs are JSON Lines (optionally ``.gz``/``.zst``) or Parquet, from paths or ``-``
(stdin). They are cut into blocks (a few MB of whole lines, or a Parquet row
batch); worker processes decode a block, run a command's job on its records and
encode the result, so parsing and JSON work use every core while the main
process only moves bytes. Results come back in input order with a bounded
number of blocks in flight, so memory stays flat whatever the input size.

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

BLOCK_BYTES = 2 << 20
PARQUET_ROWS = 8192
INPUT_FORMATS = ("jsonl", "parquet")
ON_ERROR = ("fail", "skip")
_MAGIC_PARQUET = b"PAR1"
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"


# ---------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Block:
    """A slice of one input: whole JSON lines, or a Parquet row batch."""

    source: str
    first: int  # 1-based line (JSONL) or row (Parquet) of the block's first item
    data: Any  # bytes, or a pyarrow.RecordBatch
    size: int  # input bytes the block stands for, for progress


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
            else:
                yield from self._jsonl_blocks(_decompress(stream, self.path))
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    def _jsonl_blocks(self, stream) -> Iterator[Block]:
        line = 1
        while True:
            data = stream.read(BLOCK_BYTES)
            if not data:
                return
            if not data.endswith(b"\n"):
                data += stream.readline()
            if line == 1 and data.lstrip()[:1] == b"[":
                raise InputError(self.name, 1, "a JSON array, not JSON Lines (convert it with: jq -c '.[]')")
            yield Block(self.name, line, data, len(data))
            line += data.count(b"\n")

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
        size = self.size or 0
        row = 1
        for batch in parquet.iter_batches(batch_size=PARQUET_ROWS):
            yield Block(self.name, row, batch, size * batch.num_rows // total_rows)
            row += batch.num_rows


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


def decode_block(block: Block) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """The block's records with their line numbers, and the lines that are not records."""
    rows: list[tuple[int, dict]] = []
    errors: list[tuple[int, str]] = []
    if not isinstance(block.data, bytes):
        return list(enumerate(block.data.to_pylist(), block.first)), errors
    loads, line = orjson.loads, block.first
    for raw in block.data.split(b"\n"):
        if raw and not raw.isspace():
            try:
                record = loads(raw)
            except orjson.JSONDecodeError as e:
                errors.append((line, _json_reason(e)))
            else:
                if type(record) is dict:
                    rows.append((line, record))
                else:
                    errors.append((line, f"not a JSON object (a {_json_type(record)})"))
        line += 1
    return rows, errors


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

    Returns the block's payload (encoded records, or a partial aggregate), the
    records it rejected as ``(line, reason)``, and how many records it produced.
    """

    def run(self, rows: list[tuple[int, dict]]) -> tuple[Any, list[tuple[int, str]], int]: ...


@dataclass
class MapJob:
    """Maps records one to one with ``fn`` and encodes them for the sink.

    ``fn`` takes a list of records and returns, for each, the new record or a
    ``RecordError``: batch-shaped, so it can tokenize a whole block at once.
    """

    fn: Callable[[list[dict]], list[dict | RecordError]]
    encoding: str = "jsonl"

    def run(self, rows):
        results = self.fn([record for _, record in rows])
        out, errors = [], []
        for (line, _), result in zip(rows, results):
            if isinstance(result, RecordError):
                errors.append((line, str(result)))
            else:
                out.append(result)
        if self.encoding == "jsonl":
            return encode_jsonl(out), errors, len(out)
        return out, errors, len(out)


def encode_jsonl(records: Iterable[dict]) -> bytes:
    dumps = orjson.dumps
    return b"".join([dumps(r, default=_jsonable) + b"\n" for r in records])


def _jsonable(value: Any):
    """Values Parquet can hold and JSON cannot (bytes, decimals, …) are written as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


_job: Job | None = None


def _init_worker(job: Job) -> None:
    global _job
    _job = job


def _work(block: Block):
    rows, errors = decode_block(block)
    read = len(rows) + len(errors)
    payload, rejected, produced = _job.run(rows)
    if rejected:
        errors = sorted(errors + rejected)
    return payload, errors, read, produced


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
) -> Summary:
    """Run ``job`` over every record of ``paths`` and hand each block's payload,
    in input order, to ``consume``. Raises ``InputError`` on the first bad
    record unless ``on_error`` is ``skip``."""
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}")
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
    sources = [Source(p, input_format) for p in (paths or ["-"])]
    summary = Summary()
    blocks = _chain(sources)
    head = [b for _, b in zip(range(2), blocks)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    parallel = workers > 1 and len(head) > 1
    total = sum(s.size for s in sources) if all(s.size is not None for s in sources) else None

    def account(block: Block, result) -> None:
        payload, errors, read, produced = result
        summary.read += read
        summary.written += produced
        if errors:
            if on_error == "fail":
                line, reason = errors[0]
                raise InputError(block.source, line, reason)
            summary.skipped.extend((block.source, line, reason) for line, reason in errors)
        consume(payload)

    pool = _pool(job, workers) if parallel else None
    try:
        with console.progress(label, total) as bar:
            if pool is None:
                _init_worker(job)
                for block in _prepend(head, blocks):
                    account(block, _work(block))
                    bar.advance(block.size)
            else:
                in_flight: deque = deque()
                for block in _prepend(head, blocks):
                    in_flight.append((block, pool.submit(_work, block)))
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


def _chain(sources: list[Source]) -> Iterator[Block]:
    for source in sources:
        yield from source.blocks()


def _prepend(head: list[Block], rest: Iterator[Block]) -> Iterator[Block]:
    yield from head
    yield from rest


def _pool(job: Job, workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork starts workers in milliseconds and shares the job without pickling;
    # the pool is made before any progress thread starts.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(job,))


# ---------------------------------------------------------------------------- writing


class Sink(Protocol):
    encoding: str

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


def open_sink(path: str | None) -> Sink:
    """stdout (JSONL) for None or ``-``; otherwise a file written atomically."""
    if output_format(path) == "parquet":
        return ParquetSink(path)
    return JsonlSink(path)


def _temp_beside(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return temp


class JsonlSink:
    encoding = "jsonl"

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else path
        if self.path is None:
            self._file, self._temp = sys.stdout.buffer, None
        else:
            self._temp = _temp_beside(self.path)
            opener = gzip.open if self.path.endswith(".gz") else open
            self._file = opener(self._temp, "wb")

    def write(self, payload: bytes) -> None:
        if payload:
            self._file.write(payload)
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
    """Parquet with the schema of the first block; a later record that does not
    fit it is an error naming the field, never a silently dropped value."""

    encoding = "records"

    def __init__(self, path: str, schema=None):
        self.path = path
        self._temp = _temp_beside(path)
        self._schema = schema
        self._writer = None

    def write(self, records: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not records:
            return
        try:
            table = pa.Table.from_pylist(records, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(f"cannot write {self.path}: records do not share one schema ({e}); write JSONL instead") from None
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._temp, self._schema)
        else:
            extra = set().union(*records) - set(self._schema.names)
            if extra:
                raise UsageError(
                    f"cannot write {self.path}: field {sorted(extra)[0]!r} first appears after the first block; "
                    "write JSONL instead"
                )
        self._writer.write_table(table)

    def commit(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:  # no records: still a valid, empty file
            self._writer = pq.ParquetWriter(self._temp, self._schema or pa.schema([]))
        self._writer.close()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        os.unlink(self._temp)


def write_job(paths: list[str], job_fn, output: str | None, *, label: str, **options) -> Summary:
    """Map every record with ``job_fn`` and write the results to ``output``."""
    sink = open_sink(output)
    try:
        summary = run_job(paths, MapJob(job_fn, sink.encoding), sink.write, label=label, **options)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return summary
