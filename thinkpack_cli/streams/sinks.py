"""Outputs: written to a temporary file beside the target and renamed into place at the end."""

from __future__ import annotations

import gzip
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import OutputError, UsageError
from . import footer
from .sources import format_from_name


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
    found = format_from_name(path)
    if found is None:
        raise UsageError(f"cannot tell the output format of {path}: name it .jsonl, .jsonl.gz or .parquet")
    return found


def open_sink(path: str | None, types: dict | None = None) -> Sink:
    """stdout (JSONL) for None or ``-``; otherwise a file written atomically.
    ``types``: Arrow types of the columns a command owns, for Parquet."""
    if output_format(path) == "parquet":
        return ParquetSink(path, types)
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


@dataclass(slots=True)
class ParquetPart:
    """One block encoded as a standalone Parquet file (in a worker), with its Arrow schema: the
    sink copies its column chunks into the output as they are when the schema is the file's."""

    schema: Any
    data: bytes

    @classmethod
    def of(cls, table) -> ParquetPart:
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = pa.BufferOutputStream()
        pq.write_table(table, out)  # pyarrow's defaults (snappy, dictionary pages), as other tools write
        return cls(table.schema, out.getvalue().to_pybytes())

    def table(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(self.data))


class ParquetSink:
    """Parquet whose schema grows with the data. Blocks come encoded by the workers
    (``ParquetPart``) and their row groups are copied into the file under one footer, so the
    main process does no Parquet work; a block whose schema differs is decoded and encoded
    again here under the file's. A block the file's schema cannot hold (a field first seen
    late, a column null in every earlier record) has what was written so far rewritten under
    the unified schema, once per change; fields whose types cannot unify (a number here,
    text there) are an error naming them."""

    encoding = "parquet"
    fd = None

    def __init__(self, path: str, types: dict | None = None):
        import pyarrow.parquet  # noqa: F401  (here, before workers fork: each inherits it, none imports it again)

        self.path = self.name = path
        self._target = _target(path)
        self._temp = _temp_beside(self._target, path)
        self.types = types  # Arrow types of owned columns (tp mask's list<int32>); the rest are inferred
        self._schema = None
        self._file = None  # the temporary file, opened with the first block
        self._footer, self._groups, self._at = None, [], 0

    def write(self, batch) -> None:
        """Writes a ``ParquetPart``, an Arrow table, or a list of records."""
        import pyarrow as pa

        if not isinstance(batch, ParquetPart) and not len(batch):
            return
        with _writing(self.path):
            if isinstance(batch, ParquetPart) and (self._schema is None or batch.schema.equals(self._schema)):
                self._schema = self._schema or batch.schema
                self._append(batch)
                return
            table = batch.table() if isinstance(batch, ParquetPart) else batch
            table = table if isinstance(table, pa.Table) else to_table(table, self.types or {})
            if self._schema is None:
                self._schema = table.schema
            elif not set(table.column_names) <= set(self._schema.names) or not _fits(table, self._schema):
                self._widen(table.schema)
            self._append(ParquetPart.of(_conform(table, self._schema)))

    def _append(self, part: ParquetPart) -> None:
        chunks, block_footer = footer.split(part.data)
        if self._file is None:
            self._file = open(self._temp, "wb")
            self._file.write(footer.MAGIC)
            self._at = len(footer.MAGIC)
        self._footer = self._footer or block_footer
        self._groups += footer.moved_row_groups(block_footer, self._at - len(footer.MAGIC), len(self._groups))
        self._file.write(chunks)
        self._at += len(chunks)

    def _close(self) -> None:
        """The footer after the last block, and the file closed."""
        self._file.write(footer.joined(self._footer, self._groups))
        self._file.close()

    def _widen(self, schema) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            unified = pa.unify_schemas([self._schema, schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(
                f"cannot write {self.path}: a field changes type between records ({e}); write JSONL instead"
            ) from None
        self._close()
        written, self._temp = self._temp, _temp_beside(self._target, self.path)
        self._file, self._footer, self._groups, self._schema = None, None, [], unified
        try:
            for batch in pq.ParquetFile(written).iter_batches():
                self._append(ParquetPart.of(_conform(pa.Table.from_batches([batch]), unified)))
        finally:
            os.unlink(written)

    def commit(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with _writing(self.path):
                if self._file is None:  # no records: still a valid, empty file
                    schema = self._schema or pa.schema(list((self.types or {}).items()))
                    pq.ParquetWriter(self._temp, schema).close()
                else:
                    self._close()
                os.replace(self._temp, self._target)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        _discard(self._file, self._temp)


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
            raise UsageError(
                f"cannot write Parquet: field {name!r} holds an integer beyond 64 bits; write JSONL instead"
            ) from None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UsageError(
                f"cannot write Parquet: field {name!r} changes type between records ({e}); write JSONL instead"
            ) from None
    return pa.table(columns)
