"""Tables on stdout, with terminal manners.

At a terminal: a rich table sized to the terminal, where only label columns shrink or wrap and a number is
never cut (no ``64…``). Anywhere else (a pipe, a file, CI): plain text in aligned columns, no box drawing and
no fixed width, so ``grep``, ``column`` and diffs see one line per row. ``--tsv``: tab-separated, nothing else.
"""

from __future__ import annotations

import os
import sys


def show(header: list[str], body: list[list[str]], label_columns: int, tsv: bool = False, stream=None) -> None:
    stream = stream or sys.stdout
    if tsv:
        stream.write(to_tsv(header, body))
    elif stream.isatty() and not os.environ.get("CI"):
        from . import console

        out = console.stdout()
        for table in rich_tables(header, body, label_columns, out.width):
            out.print(table)
    else:
        stream.write(plain(header, body, label_columns))


def to_tsv(header: list[str], body: list[list[str]]) -> str:
    def clean(cell: str) -> str:
        return cell.replace("\t", " ").replace("\n", " ")

    return "".join("\t".join(map(clean, line)) + "\n" for line in [header, *body])


def plain(header: list[str], body: list[list[str]], label_columns: int) -> str:
    lines = [header, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line):
        cells = [c.ljust(w) if i < label_columns else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "  ".join(cells).rstrip() + "\n"

    return "".join(map(fmt, lines))


LABEL_MIN = 10  # a label column shrinks (and wraps) down to this


def rich_tables(header: list[str], body: list[list[str]], label_columns: int, width: int) -> list:
    """The table for a terminal ``width`` columns wide: as one table when its numbers fit beside the labels,
    else as several, each with the labels and as many number columns as fit whole."""

    def need(i):  # a number column: its widest cell, its header folding onto two lines at most, and borders
        return max(max((len(line[i]) for line in body), default=1), (len(header[i]) + 1) // 2) + 3

    labels = sum(min(LABEL_MIN, max(len(line[i]) for line in [header, *body])) + 3 for i in range(label_columns))
    groups, current, used = [], [], labels
    for i in range(label_columns, len(header)):
        if current and used + need(i) > width:
            groups.append(current)
            current, used = [], labels
        current.append(i)
        used += need(i)
    groups.append(current)
    keep = list(range(label_columns))
    return [
        rich_table([header[i] for i in keep + g], [[line[i] for i in keep + g] for line in body], label_columns)
        for g in groups
    ]


def rich_table(header: list[str], body: list[list[str]], label_columns: int):
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for i, title in enumerate(header):
        if i < label_columns:
            table.add_column(title, justify="left", overflow="fold")
        else:  # numbers keep their full width; the labels give way, and a header folds rather than ends in "…"
            table.add_column(
                title, justify="right", overflow="fold", min_width=max((len(line[i]) for line in body), default=1)
            )
    for line in body:
        table.add_row(*line)
    return table
