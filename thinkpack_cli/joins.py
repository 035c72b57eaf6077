"""``--gold-file``: gold answers kept apart from the outputs (an OpenAI batch file, a vLLM dump), joined by id.

The gold file is JSONL or Parquet with the same ``--id`` path as the outputs and the gold in ``--gold`` (else
the first of gold, reference, answer, expected_answer). An output's own gold, when it has one, wins.
"""

from __future__ import annotations

from typing import Any

from . import paths
from .errors import InputError, UsageError
from .fields import GOLD_FILE_FIELDS


def load_gold(path: str, id_path: str | None, gold_path: str | None = None, input_format: str | None = None) -> dict:
    """{id: gold} from ``path``; an id given twice with two different golds is an error."""
    from . import streams
    from .stats import _hashable

    if id_path is None:
        raise UsageError("--gold-file joins by id: give --id (the same field in both files)")
    table: dict[Any, Any] = {}
    first = 1
    for block in streams.Source(path, input_format).blocks():
        rows, errors, lines = streams.decode_block(block)
        if errors:
            raise InputError(path, first + errors[0][0], errors[0][1])
        for offset, record, _ in rows:
            key = _hashable(paths.get(record, id_path))
            gold = next(
                (
                    v
                    for v in (paths.get(record, n) for n in ((gold_path,) if gold_path else GOLD_FILE_FIELDS))
                    if v is not None and v != ""
                ),
                None,
            )
            if key is None or gold is None:
                raise InputError(
                    path, first + offset, f"no {id_path!r} or no gold ({gold_path or ', '.join(GOLD_FILE_FIELDS)})"
                )
            if key in table and table[key] != gold:
                raise InputError(path, first + offset, f"id {key!r} has two different golds")
            table[key] = gold
        first += lines
    return table
