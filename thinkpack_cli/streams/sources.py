"""Inputs: each path opened once and cut into blocks of whole lines, byte ranges or row batches."""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import zlib
from dataclasses import dataclass
from typing import Any, Iterator

from .. import interrupts
from ..errors import InputError, UsageError
from . import more_sources

BLOCK_BYTES = 1 << 20  # measured faster than 2 MB: a block's objects stay within a core's cache
PARQUET_ROWS = 8192
INPUT_FORMATS = ("jsonl", "parquet", "arrow")
_MAGIC_PARQUET = b"PAR1"
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"
ARRAY_HINT = "a JSON array, not JSON Lines (convert it with: jq -c '.[]')"


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
        self.remote = more_sources.is_remote(path)  # s3://, hf://, … through fsspec
        # for progress: the data read is the opened file's
        self.size = None if path == "-" else more_sources.remote_size(path) if self.remote else _file_size(path)
        self.format = input_format
        self.array = False  # its first line opens a JSON array: the error there says so

    def blocks(self) -> Iterator[Block]:
        if more_sources.is_arrow(self.path, self.format):  # a save_to_disk folder or an Arrow IPC file
            yield from (
                Block(self.name, batch, batch.nbytes) for batch in more_sources.arrow_batches(self.path, PARQUET_ROWS)
            )
            return
        stream = _open_binary(self)
        try:
            head = _peek(stream, 64)
            kind = self.format or ("parquet" if head[:4] == _MAGIC_PARQUET else None)
            kind = kind or format_from_name(self.path) or "jsonl"
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
        return more_sources.open_remote(source.path)
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


def format_from_name(path: str) -> str | None:
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
