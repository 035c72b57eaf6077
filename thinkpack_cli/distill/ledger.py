"""Resume and output: what earlier runs finished, and each finished record appended at once."""

from __future__ import annotations

import os
from collections import Counter

import orjson

from .. import streams
from ..errors import UsageError
from .options import META


class Ledger:
    """The output and errors files: what earlier runs finished, and where this run appends.

    Output lines are whole records (one per kept sample) written with one ``write`` per
    record, so a kill leaves at most one torn record at the end, which is cut off here.
    The errors file holds an entry per rejected or failed record; the last for a key wins.
    """

    def __init__(self, output: str, errors: str | None, key_kind: str):
        if not output.lower().endswith((".jsonl", ".ndjson")):
            raise UsageError(
                "tp distill appends to a plain JSON Lines file: name the output .jsonl "
                "(convert it to Parquet or compress it when the run is done)"
            )
        self.output = output
        self.errors = errors or errors_path(output)
        self.key_kind = key_kind
        try:
            self._out = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
        self._err: int | None = None
        try:
            _lock(self._out, output)
            self.done = self._load_output()
            self.entries = self._load_errors()  # key -> its latest errors-file entry
        except BaseException:
            os.close(self._out)
            raise

    def finished(self, key: str, retry_rejected: bool) -> bool:
        entry = self.entries.get(key)
        return key in self.done or (not retry_rejected and entry is not None and entry["outcome"] == "rejected")

    def write(self, key: str, lines: bytes) -> None:
        streams.write_pieces(self._out, [lines])
        self.done.add(key)

    def error(self, key: str, source: str, line: int, outcome: str, reason: str, record: dict) -> None:
        entry = {"key": key, "source": source, "line": line, "outcome": outcome, "reason": reason, "record": record}
        if self._err is None:
            self._err = os.open(self.errors, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        streams.write_pieces(self._err, [streams.encode_jsonl([entry])])
        self.entries[key] = entry

    def close(self) -> None:
        """Rewrites the errors file with one entry per record still not done (none: no file)."""
        os.close(self._out)
        if self._err is not None:
            os.close(self._err)
        if not os.path.exists(self.errors):
            return
        entries = [e for key, e in self.entries.items() if key not in self.done]
        if not entries:
            os.unlink(self.errors)
            return
        temp = f"{self.errors}.tmp"
        with open(temp, "wb") as f:
            f.write(streams.encode_jsonl(entries))
        os.replace(temp, self.errors)

    def _load_output(self) -> set[str]:
        done: set[str] = set()
        seen: Counter = Counter()
        group_start = end = 0  # the offset where the last record's lines begin, and where they end
        with open(self.output, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break  # torn by a kill mid-write
                try:
                    meta = orjson.loads(line)[META]
                    key, kept = meta["key"], meta["kept"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise UsageError(
                        f"{self.output}:{number}: not a line tp distill wrote (no {META}.key); name a new output file"
                    ) from None
                self._check_kind(key, self.output, number)
                if seen[key] == 0:
                    group_start = end
                seen[key] += 1
                end += len(line)
                if seen[key] == kept:
                    done.add(key)
        # Lines after the last whole record are a record torn by a kill: cut them off.
        whole = end if not seen or seen[key] >= kept else group_start
        if os.path.getsize(self.output) != whole:
            os.ftruncate(self._out, whole)
        return done

    def _load_errors(self) -> dict[str, dict]:
        entries: dict[str, dict] = {}
        if not os.path.exists(self.errors):
            return entries
        end = 0
        with open(self.errors, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    os.truncate(self.errors, end)  # torn by a kill: its record counts as not yet tried
                    break
                end += len(line)
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    entry = None
                if not (
                    isinstance(entry, dict)
                    and isinstance(entry.get("key"), str)
                    and entry.get("outcome") in ("rejected", "failed")
                ):
                    raise UsageError(
                        f"{self.errors}:{number}: not an entry tp distill wrote; name another file with --errors"
                    )
                self._check_kind(entry["key"], self.errors, number)
                entries[entry["key"]] = entry
        return entries

    def _check_kind(self, key: str, path: str, number: int) -> None:
        if not key.startswith(self.key_kind + ":"):
            raise UsageError(
                f"{path}:{number}: its records are keyed {_keyed(key)}, this run's {_keyed(self.key_kind)}; "
                "rerun with the --id the first run had"
            )


def _keyed(key: str) -> str:
    return "by content (no --id)" if key.startswith("hash") else f"by --id {key.split(':')[1]}"


def check_paths(inputs: list[str], output: str, errors: str) -> None:
    """Two outputs in one file would overwrite the paid traces with error entries; an output that is
    also an input would be read while it grows."""
    if _same_file(output, errors):
        raise UsageError(
            f"-o {output} and --errors {errors} are the same file: the error entries would "
            "overwrite the traces; name two files"
        )
    for path in inputs or ["-"]:
        for name, out in (("-o", output), ("--errors", errors)):
            if _same_file(path, out):
                shown = "stdin" if path == "-" else f"input {path}"
                raise UsageError(f"{shown} is also the output ({name} {out}): write the results to another file")


def _same_file(a: str, b: str) -> bool:
    """Whether two paths (``-``: stdin) name one file: by device and inode when both exist, else by resolved path."""
    try:
        left = os.fstat(0) if a == "-" else os.stat(a)
        right = os.stat(b)
        return (left.st_dev, left.st_ino) == (right.st_dev, right.st_ino)
    except OSError:
        return a != "-" and os.path.realpath(a) == os.path.realpath(b)


def errors_path(output: str) -> str:
    stem, _ = os.path.splitext(output)
    return f"{stem}.errors.jsonl"


def _lock(fd: int, path: str) -> None:
    """Two runs appending to one output would both ask for the same records."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"another tp distill is writing {path}") from None
