"""``tp stats --layout paper``: the table the papers print. One row per model, one column per benchmark,
each cell "accuracy (length)", and an average column.

The row is the last ``--by`` field (``--by benchmark,model``), or the input when there are several inputs
and one ``--by`` field; the other fields make the columns. Length is the mean reasoning length in tokens
when they were counted, else in characters. The average is over the benchmarks a model has, and blank when
it lacks one (an average over fewer benchmarks would not compare).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from .errors import UsageError

AVERAGE = "average"


def grid(rows: list[dict], by: tuple[str, ...], several_inputs: bool, tokens: bool):
    """(row labels, column labels, {(row, column): (accuracy, length)}, the length's unit)."""
    if several_inputs and len(by) == 1:
        row_of, column_of = (lambda r: str(r["input"])), (lambda r: _label(r.get(by[0])))
    elif len(by) >= 2 and not several_inputs:
        row_of = lambda r: _label(r.get(by[-1]))  # noqa: E731
        column_of = lambda r: " / ".join(_label(r.get(b)) for b in by[:-1])  # noqa: E731
    else:
        raise UsageError(
            "--layout paper needs --by BENCHMARK,MODEL (or one --by field and several inputs, one per model)"
        )
    length = "reasoning_tokens_mean" if tokens else "reasoning_chars_mean"
    cells: dict[tuple[str, str], tuple[Any, Any]] = {}
    for row in rows:
        if row.get("total"):
            cells[(row_of(row), column_of(row))] = (row.get("accuracy"), row.get(length))
    models = list(dict.fromkeys(r for r, _ in cells))
    benchmarks = sorted(dict.fromkeys(c for _, c in cells))
    for model in models:
        values = [cells.get((model, b)) for b in benchmarks]
        if all(v is not None and v[0] is not None for v in values):
            lengths = [v[1] for v in values]
            cells[(model, AVERAGE)] = (
                sum(v[0] for v in values) / len(values),
                sum(lengths) / len(lengths) if None not in lengths else None,
            )
    return models, benchmarks, cells, "tokens" if tokens else "chars"


def _label(value: Any) -> str:
    return "" if value is None else str(value)


def cell(value: tuple[Any, Any] | None) -> str:
    if value is None or value[0] is None:
        return ""
    accuracy, length = value
    return f"{accuracy * 100:.1f}" + ("" if length is None else f" ({length:,.0f})")


def text_grid(rows, by, several_inputs, tokens) -> tuple[list[str], list[list[str]]]:
    models, benchmarks, cells, unit = grid(rows, by, several_inputs, tokens)
    header = [f"model · accuracy % (mean reasoning {unit})", *benchmarks, AVERAGE]
    body = [[m, *(cell(cells.get((m, b))) for b in [*benchmarks, AVERAGE])] for m in models]
    return header, body


def markdown(rows, by, several_inputs, tokens) -> str:
    header, body = text_grid(rows, by, several_inputs, tokens)

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return (
        "\n".join([line(header), "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |", *map(line, body)])
        + "\n"
    )


def to_csv(rows, by, several_inputs, tokens) -> str:
    """Numbers, not text: ``BENCHMARK.accuracy`` (0-1) and ``BENCHMARK.length`` per benchmark, and the average."""
    models, benchmarks, cells, unit = grid(rows, by, several_inputs, tokens)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [*benchmarks, AVERAGE]
    writer.writerow(["model", *(f"{b}.{m}" for b in columns for m in ("accuracy", f"length_{unit}"))])
    for model in models:
        values = [cells.get((model, b)) or (None, None) for b in columns]
        writer.writerow([model, *("" if x is None else x for v in values for x in v)])
    return out.getvalue()
