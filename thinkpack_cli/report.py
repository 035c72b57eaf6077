"""Render stats rows as a rich table, JSON, Markdown or CSV.

One group: metrics down the side, one column per input (and its change against
the first). Several groups (``--by``): one line per group and input, with the
headline metrics across; ``--json``/``--csv`` always carry every metric.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

FORMATS = ("table", "json", "markdown", "csv")
# The headline metrics of a grouped table, with short headers so a row fits a terminal.
_HEADLINE = {
    "total": "n",
    "valid_rate": "valid",
    "empty_rate": "empty",
    "truncated_rate": "truncated",
    "missing_rate": "missing",
    "answer_rate": "answered",
    "reasoning_chars_p50": "think p50",
    "reasoning_chars_p90": "think p90",
    "answer_chars_p50": "answer p50",
    "reasoning_tokens_p50": "think tok p50",
    "answer_tokens_p50": "answer tok p50",
    "accuracy": "accuracy",
    "rpass@1": "rpass@1",
}


def render(rows: list[dict], names: list[str], by: tuple[str, ...], kind: str, several_inputs: bool) -> str:
    """The report as text (``table`` is rendered by ``print_table``)."""
    if kind == "json":
        single = not by and not several_inputs
        return orjson.dumps(rows[0] if single else rows, option=orjson.OPT_INDENT_2).decode() + "\n"
    if kind == "csv":
        return _csv(rows, names, by, several_inputs)
    header, body = _grid(rows, names, by, several_inputs)
    return _markdown(header, body)


def print_table(
    rows: list[dict], names: list[str], by: tuple[str, ...], several_inputs: bool, tsv: bool = False
) -> None:
    from . import tables

    header, body = _grid(rows, names, by, several_inputs)
    tables.show(header, body, _label_columns(by, several_inputs), tsv=tsv)


def _label_columns(by: tuple[str, ...], several_inputs: bool) -> int:
    return len(by) + (1 if several_inputs else 0) if by else 1


def _grid(
    rows: list[dict], names: list[str], by: tuple[str, ...], several_inputs: bool
) -> tuple[list[str], list[list[str]]]:
    if not by:  # one group: metrics down the side
        header = ["metric"]
        for i, row in enumerate(rows):
            header.append(row.get("input", "value"))
            if i > 0:
                header.append("Δ")
        body = []
        for name in names:
            line = [name]
            for i, row in enumerate(rows):
                line.append(_cell(name, row.get(name)))
                if i > 0:
                    line.append(_cell(name, row["delta"].get(name), delta=True))
            body.append(line)
        return header, body
    shown = [n for n in names if n in _HEADLINE or n.startswith("pass@")]
    shown = [n for n in shown if any(row.get(n) is not None for row in rows)]
    header = [*by, *(["input"] if several_inputs else []), *(_HEADLINE.get(n, n) for n in shown)]
    body = []
    for row in rows:
        line = [_plain(row.get(name)) for name in by]
        if several_inputs:
            line.append(str(row["input"]))
        for name in shown:
            cell = _cell(name, row.get(name))
            if "delta" in row and row["delta"].get(name) is not None and name != "total":
                cell += f" {_cell(name, row['delta'][name], delta=True, compact=True)}"
            line.append(cell)
        body.append(line)
    return header, body


def _cell(name: str, value: Any, delta: bool = False, compact: bool = False) -> str:
    """A value for people: rates in percent, their changes in percentage points."""
    if value is None:
        return ""
    if _is_rate(name):
        if delta:
            return f"{value * 100:+.1f}" if compact else f"{value * 100:+.1f} pp"
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:+,.1f}" if delta else f"{value:,.1f}"
    return f"{value:+,}" if delta else f"{value:,}"


def _is_rate(name: str) -> bool:
    return name.endswith("_rate") or name in ("accuracy", "rpass@1") or name.startswith("pass@")


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _markdown(header: list[str], body: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(_markdown_cell(c) for c in cells) + " |"

    align = ["---"] + ["---:"] * (len(header) - 1)
    return "\n".join([line(header), "| " + " | ".join(align) + " |", *map(line, body)]) + "\n"


def _markdown_cell(text: str) -> str:
    """A cell that cannot end its row or table: pipes escaped, line breaks as ``<br>`` (HTML escaped first)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return "<br>".join(text.splitlines()) if text else text


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    """Text that a spreadsheet would run as a formula gets a leading ``'``; numbers stay numbers."""
    text = _plain(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA_STARTS) else text


def _csv(rows: list[dict], names: list[str], by: tuple[str, ...], several_inputs: bool) -> str:
    columns = [*by, *(["input"] if several_inputs else []), *names]
    if several_inputs:
        columns += [f"delta.{n}" for n in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        delta = row.get("delta", {})
        writer.writerow(
            [_csv_cell(row.get(c)) if not c.startswith("delta.") else _csv_cell(delta.get(c[6:])) for c in columns]
        )
    return out.getvalue()
