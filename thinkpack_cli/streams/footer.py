"""One Parquet file from many: each block is encoded on its own (in a worker) as a small Parquet
file, and the output is their row groups one after another under one footer.

A Parquet file is ``PAR1``, its column chunks, a footer (Thrift compact-encoded ``FileMetaData``),
the footer's length and ``PAR1``. A block's chunks are copied as they are; its footer's row groups
have their file offsets moved to where the chunks now lie, and join the output's footer. Only
those offsets, the row-group ordinals and the row count change: the codec below reads and writes
every other field as it found it, whatever the writer put there.
"""

from __future__ import annotations

MAGIC = b"PAR1"

# Thrift compact types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# Field ids (parquet.thrift): FileMetaData, RowGroup, ColumnChunk, ColumnMetaData
_NUM_ROWS, _ROW_GROUPS = 3, 4
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
_CM_OFFSETS = (9, 10, 11, 14)  # data page, index page, dictionary page, bloom filter


def split(data: bytes) -> tuple[memoryview, list]:
    """A standalone Parquet file's column chunks (the bytes between the magic and the footer) and
    its footer, decoded: a list of ``[field id, type, value]``."""
    length = int.from_bytes(data[-8:-4], "little")
    if data[:4] != MAGIC or data[-4:] != MAGIC or length + 12 > len(data):
        raise ValueError("not a Parquet file")
    start = len(data) - 8 - length
    fields, _ = _read_struct(data, start)
    return memoryview(data)[4:start], fields


def field(fields: list, fid: int):
    return next((f[2] for f in fields if f[0] == fid), None)


def _set(fields: list, fid: int, ctype: int, value) -> None:
    for f in fields:
        if f[0] == fid:
            f[2] = value
            return
    fields.append([fid, ctype, value])
    fields.sort(key=lambda f: f[0])


def moved_row_groups(footer: list, shift: int, first_ordinal: int) -> list:
    """The footer's row groups with every file offset moved by ``shift`` bytes, numbered from
    ``first_ordinal``."""
    groups = field(footer, _ROW_GROUPS)[1]
    for n, group in enumerate(groups):
        _shift(group, (_RG_FILE_OFFSET,), shift)
        if field(group, _RG_ORDINAL) is not None:
            if first_ordinal + n < 1 << 15:
                _set(group, _RG_ORDINAL, _I16, first_ordinal + n)
            else:  # an i16 (only encrypted files need it): past its range, left out rather than wrapped
                group[:] = [f for f in group if f[0] != _RG_ORDINAL]
        for chunk in field(group, _RG_COLUMNS)[1]:
            _shift(chunk, (_CC_FILE_OFFSET, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX), shift)
            meta = field(chunk, _CC_META)
            if meta is not None:
                _shift(meta, _CM_OFFSETS, shift)
    return groups


def _shift(fields: list, fids: tuple[int, ...], by: int) -> None:
    for f in fields:
        if f[0] in fids and f[2] > 0:  # 0: not set
            f[2] += by


def joined(footer: list, row_groups: list) -> bytes:
    """The output's footer, its length and the closing magic: ``footer`` (the first block's) with
    every block's row groups and their rows."""
    fields = [list(f) for f in footer]
    _set(fields, _ROW_GROUPS, _LIST, (_STRUCT, row_groups))
    rows = sum(field(group, 3) for group in row_groups)
    _set(fields, _NUM_ROWS, _I64, rows)
    out = bytearray()
    _write_struct(out, fields)
    return bytes(out) + len(out).to_bytes(4, "little") + MAGIC


# ---------------------------------------------------------------------------- Thrift compact protocol


def _varint(data, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _read_struct(data, pos: int) -> tuple[list, int]:
    fields, fid = [], 0
    while True:
        header = data[pos]
        pos += 1
        if header == 0:
            return fields, pos
        ctype, delta = header & 0x0F, header >> 4
        if delta:
            fid += delta
        else:
            raw, pos = _varint(data, pos)
            fid = _zigzag(raw)
        if ctype in (_TRUE, _FALSE):
            fields.append([fid, ctype, ctype == _TRUE])
        else:
            value, pos = _read_value(data, pos, ctype)
            fields.append([fid, ctype, value])


def _read_value(data, pos: int, ctype: int):
    if ctype in (_TRUE, _FALSE, _BYTE):  # a bool inside a list is one byte
        return data[pos], pos + 1
    if ctype in (_I16, _I32, _I64):
        raw, pos = _varint(data, pos)
        return _zigzag(raw), pos
    if ctype == _DOUBLE:
        return bytes(data[pos : pos + 8]), pos + 8
    if ctype == _BINARY:
        size, pos = _varint(data, pos)
        return bytes(data[pos : pos + size]), pos + size
    if ctype in (_LIST, _SET):
        header = data[pos]
        pos += 1
        size, etype = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        items = []
        for _ in range(size):
            item, pos = _read_value(data, pos, etype)
            items.append(item)
        return (etype, items), pos
    if ctype == _STRUCT:
        return _read_struct(data, pos)
    if ctype == _MAP:
        size, pos = _varint(data, pos)
        if not size:
            return (0, 0, []), pos
        kinds = data[pos]
        pos += 1
        pairs = []
        for _ in range(size):
            key, pos = _read_value(data, pos, kinds >> 4)
            value, pos = _read_value(data, pos, kinds & 0x0F)
            pairs.append((key, value))
        return (kinds >> 4, kinds & 0x0F, pairs), pos
    raise ValueError(f"unknown Thrift compact type {ctype}")


def _write_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_int(out: bytearray, n: int) -> None:
    _write_varint(out, (n << 1) ^ (n >> 63))


def _write_struct(out: bytearray, fields: list) -> None:
    last = 0
    for fid, ctype, value in fields:
        if ctype in (_TRUE, _FALSE):
            ctype = _TRUE if value else _FALSE
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | ctype)
        else:
            out.append(ctype)
            _write_int(out, fid)
        last = fid
        if ctype not in (_TRUE, _FALSE):
            _write_value(out, ctype, value)
    out.append(0)


def _write_value(out: bytearray, ctype: int, value) -> None:
    if ctype in (_TRUE, _FALSE, _BYTE):
        out.append(value)
    elif ctype in (_I16, _I32, _I64):
        _write_int(out, value)
    elif ctype == _DOUBLE:
        out += value
    elif ctype == _BINARY:
        _write_varint(out, len(value))
        out += value
    elif ctype in (_LIST, _SET):
        etype, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | etype)
        else:
            out.append(0xF0 | etype)
            _write_varint(out, len(items))
        for item in items:
            _write_value(out, etype, item)
    elif ctype == _STRUCT:
        _write_struct(out, value)
    elif ctype == _MAP:
        ktype, vtype, pairs = value
        _write_varint(out, len(pairs))
        if pairs:
            out.append(ktype << 4 | vtype)
            for key, item in pairs:
                _write_value(out, ktype, key)
                _write_value(out, vtype, item)
    else:
        raise ValueError(f"unknown Thrift compact type {ctype}")
