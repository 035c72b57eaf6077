"""JSON Lines in and out: a block decoded into records (or line errors), records encoded back."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

import orjson

from .sources import Block, FileRange


def decode_block(block: Block) -> tuple[list[tuple[int, dict, bytes | None]], list[tuple[int, str]], int]:
    """The block's records as (line offset in the block, record, its JSON line or None),
    the lines that are not records, and the number of lines (or rows) it spans."""
    rows: list[tuple[int, dict, bytes | None]] = []
    errors: list[tuple[int, str]] = []
    data = block.data.read() if isinstance(block.data, FileRange) else block.data
    if not isinstance(data, bytes):
        records = data.to_pylist()
        return [(i, r, None) for i, r in enumerate(records)], errors, len(records)
    loads = _loads if _has_long_number(data) else orjson.loads  # one scan spares the rest of the blocks
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
# A block is scanned with digits mapped to NUL (which JSON text cannot hold raw) and a plain substring
# search: ten times faster than the regex, which cost more than decoding the block.
_DIGITS_TO_NUL = bytes.maketrans(b"0123456789", b"\0" * 10)
_NULS = b"\0" * 19


def _has_long_number(data: bytes) -> bool:
    """Whether ``data`` may hold a 19-digit run (a raw NUL, invalid JSON anyway, only costs the slow path)."""
    return data.translate(_DIGITS_TO_NUL).find(_NULS) >= 0


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


class Pieces(list):
    """Encoded JSONL as byte pieces, written with writev; sent to another process, as one bytes."""

    def __reduce__(self):
        return Pieces, ([b"".join(self)],)


_SPACE = b" \t\r\n"


def append_fields(line: bytes, fields: bytes) -> tuple:
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
