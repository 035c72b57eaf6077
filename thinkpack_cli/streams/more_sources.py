"""Sources beyond local JSONL and Parquet files, for ``Source`` (sources.py).

- A Hugging Face ``Dataset.save_to_disk`` folder (``state.json`` and its ``.arrow`` shards), or one split of a
  saved ``DatasetDict`` (``PATH/train``).
- An Arrow IPC file (``.arrow``, ``.feather``, ``.ipc``), in the file or the stream format (HF writes streams).
- A remote path (``s3://…``, ``gs://…``, ``hf://…``, ``https://…``) through fsspec, when it is installed.

Arrow data comes as record batches, as Parquet does, so workers decode them the same way.
"""

from __future__ import annotations

import json
import os
from typing import Iterator

from ..errors import InputError, UsageError

ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
_MAGIC_ARROW_FILE = b"ARROW1"


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fsspec(path: str):
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{path}: remote paths need fsspec (pip install fsspec, and s3fs/gcsfs for s3/gs)") from None
    return fsspec


def remote_size(path: str) -> int | None:
    fs, _, (where,) = _fsspec(path).get_fs_token_paths(path)
    try:
        return fs.size(where)
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as e:
        raise InputError(path, None, str(e)) from None


def open_remote(path: str):
    """A buffered binary stream over a remote file (seekable, so Parquet reads it too)."""
    import io

    try:
        return io.BufferedReader(_fsspec(path).open(path, "rb").open())
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as e:
        raise InputError(path, None, str(e)) from None


def is_arrow(path: str, input_format: str | None) -> bool:
    if input_format is not None:
        return input_format == "arrow"
    return (path != "-" and not is_remote(path) and os.path.isdir(path)) or path.lower().endswith(ARROW_SUFFIXES)


def arrow_files(path: str) -> list[str]:
    """The Arrow files of an input: itself, or a save_to_disk folder's shards in order."""
    if not os.path.isdir(path):
        return [path]
    if os.path.exists(os.path.join(path, "dataset_dict.json")):
        with open(os.path.join(path, "dataset_dict.json"), encoding="utf-8") as f:
            splits = json.load(f).get("splits", [])
        raise InputError(
            path,
            None,
            f"a saved DatasetDict: name one split, e.g. {os.path.join(path, splits[0] if splits else 'train')}",
        )
    state = os.path.join(path, "state.json")
    if not os.path.exists(state):
        raise InputError(path, None, "a folder that is not a datasets save_to_disk folder (no state.json)")
    with open(state, encoding="utf-8") as f:
        files = [entry["filename"] for entry in json.load(f).get("_data_files", [])]
    return [os.path.join(path, name) for name in files]


def arrow_batches(path: str, block_rows: int) -> Iterator:
    """The record batches (at most ``block_rows`` rows each) of an Arrow input, for ``streams.Source`` to block."""
    import pyarrow as pa

    files = arrow_files(path) if not is_remote(path) else [path]
    for name in files:
        try:
            stream = open_remote(name) if is_remote(name) else pa.memory_map(name, "r")
            head = stream.read(6)
            stream.seek(0)
            reader = pa.ipc.open_file(stream) if head == _MAGIC_ARROW_FILE else pa.ipc.open_stream(stream)
            batches = (
                (reader.get_batch(i) for i in range(reader.num_record_batches))
                if head == _MAGIC_ARROW_FILE
                else iter(reader)
            )
            for batch in batches:
                for start in range(0, batch.num_rows, block_rows):
                    yield batch.slice(start, block_rows)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(name, None, f"not a readable Arrow file ({e})") from None
