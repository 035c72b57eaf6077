"""Every transform as a column-batch function, in the ``datasets.map(batched=True)`` shape.

    ds.map(parse_batch, batched=True, fn_kwargs={"field": "response"})
    ds.map(mask_batch, batched=True, num_proc=2, fn_kwargs={"tokenizer": "./Qwen3-0.6B"})
    ray_ds.map_batches(parse_batch, fn_kwargs={"field": "response"})

Each takes its command's options as keywords and builds its transform once per process and
options (a tokenizer loads once, not once a batch). It never changes the batch it is given, and
reads what ``datasets`` (dicts of lists), Ray Data (dicts of numpy arrays, Arrow tables) and pandas
hand over. The columns come back as lists: the input's columns, then the ones the transform adds.
``on_error="fail"`` raises ``RecordError`` naming the first bad row; ``"skip"`` drops bad rows (a
batched map may return fewer rows than it was given), as the commands do with bad lines.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import RecordError, UsageError

_built: dict[tuple, Any] = {}  # (kind, options) -> transform, per process


def parse_batch(batch: Any, *, on_error: str = "fail", **options: Any) -> dict[str, list]:
    """``tp parse``: options as ``parse.ParseOptions`` (``field``, ``tokenizer``, ``prefixed``, …)."""
    return _apply(_once("parse", options, _parser), batch, on_error)


def grade_batch(
    batch: Any,
    *,
    on_error: str = "fail",
    answer_field: str = "answer",
    gold_field: str = "gold",
    grader: str = "math",
    timeout: float = 5.0,
    workers: int | None = None,
) -> dict[str, list]:
    """``tp stats``' grading of parsed rows: adds ``pred``, ``correct`` and ``grade_status``.

    The grader runs in its own worker processes (one per core unless ``workers``), so map it with
    ``num_proc=1``: pool workers of ``datasets`` are daemons, which may not start processes."""
    options = {
        "answer_field": answer_field,
        "gold_field": gold_field,
        "grader": grader,
        "timeout": timeout,
        "workers": workers,
    }
    return _apply(_once("grade", options, _grading), batch, on_error)


def mask_batch(batch: Any, *, tokenizer: str, on_error: str = "fail", **options: Any) -> dict[str, list]:
    """``tp mask``: adds ``input_ids``, ``labels`` and ``attention_mask``. ``mask`` is a string as on the
    command line (``"prompt,think"``); ``template_kwargs`` a dict, ``think_tags`` an (open, close) pair;
    the rest as ``mask.MaskOptions``."""
    return _apply(_once("mask", {"tokenizer": tokenizer, **options}, _masker), batch, on_error)


def steer_batch(batch: Any, *, tokenizer: str, on_error: str = "fail", **options: Any) -> dict[str, list]:
    """``tp steer``: adds ``prompt`` (and ``prompt_token_ids``). ``template_kwargs`` and ``think_tags``
    as for ``mask_batch``; the rest as ``steer.SteerOptions`` (``prefix``, ``reasoning``, ``close``, …)."""
    return _apply(_once("steer", {"tokenizer": tokenizer, **options}, _steerer), batch, on_error)


# ---------------------------------------------------------------------------- building each transform once


def _once(kind: str, options: dict, build: Callable[[dict], Any]):
    key = (kind, repr(sorted(options.items())))
    if key not in _built:
        _built[key] = build(dict(options))
    return _built[key]


def _parser(options: dict):
    from .parse import ParseOptions, Parser

    return Parser.create(ParseOptions(**options))


def _template(options: dict):
    from . import tokenizer as tokenizers
    from .detect import detect

    think_tags = options.pop("think_tags", None)
    loaded = tokenizers.load(options.pop("tokenizer"))
    return detect(loaded, options.pop("template_kwargs", None), tuple(think_tags) if think_tags else None)


def _masker(options: dict):
    from .mask import Masker, MaskOptions, parse_mask

    template = _template(options)
    if isinstance(options.get("mask"), str):
        options["mask"] = parse_mask(options["mask"])
    # Row-aligned output: the input's fields stay beside the masked ones, as datasets.map expects.
    return Masker(template, MaskOptions(**{**options, "keep_fields": True}))


def _steerer(options: dict):
    from .steer import Steerer, SteerOptions

    return Steerer(_template(options), SteerOptions(**options))


class _Grading:
    """Grades each row's answer against its gold; a row without the answer field is a bad row."""

    def __init__(self, answer_field: str, gold_field: str, grader: str, timeout: float, workers: int | None):
        from .grading import Grader

        self.answer_field, self.gold_field = answer_field, gold_field
        self.grader = Grader(grader, timeout, workers)

    def __call__(self, records: list[dict]) -> list[dict | RecordError]:
        out: list[dict | RecordError] = []
        pairs = []
        for record in records:
            if self.answer_field not in record:
                out.append(RecordError(f"no {self.answer_field!r} field (parse the rows first: parse_batch)"))
            else:
                out.append(record)
                pairs.append((record[self.answer_field], record.get(self.gold_field)))
        verdicts = iter(self.grader.verdicts(pairs))
        for record in out:
            if isinstance(record, dict):
                verdict = next(verdicts)
                record.update(pred=verdict.pred, correct=verdict.correct, grade_status=verdict.status)
        return out


def _grading(options: dict):
    return _Grading(**options)


# ---------------------------------------------------------------------------- columns in, columns out


def _apply(transform: Callable[[list[dict]], list], batch: Any, on_error: str) -> dict[str, list]:
    if on_error not in ("fail", "skip"):
        raise UsageError("on_error must be fail or skip")
    columns = _columns(batch)
    names = list(columns)
    rows = [dict(zip(names, values)) for values in zip(*columns.values())]
    kept = []
    for number, result in enumerate(transform(rows)):
        if isinstance(result, RecordError):
            if on_error == "fail":
                raise RecordError(f"row {number} of the batch: {result}")
        elif result is not None:  # None: dropped by the transform's own option (mask --overflow drop)
            kept.append(result)
    added = dict.fromkeys(name for row in kept for name in row if name not in columns)
    return {name: [row.get(name) for row in kept] for name in [*names, *added]}


def _columns(batch: Any) -> dict[str, list]:
    """Plain Python columns, fresh containers throughout, whatever the engine handed over."""
    if hasattr(batch, "to_pydict"):  # an Arrow table or record batch
        return batch.to_pydict()
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # a pandas DataFrame
        batch = {name: batch[name] for name in batch.columns}
    return {name: [_plain(value) for value in values] for name, values in batch.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars (Ray)
        return _plain(value.tolist())
    return value


__all__ = ["grade_batch", "mask_batch", "parse_batch", "steer_batch"]
