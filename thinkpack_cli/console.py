"""Everything tp says to a person goes to stderr; stdout carries data only.

Colour and progress bars appear only when stderr is a terminal and ``CI`` is unset. Control
characters in a message (a record's key or value holding an escape sequence) are shown
escaped, never sent to the terminal.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from functools import cache


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@cache
def stderr():
    from rich.console import Console

    if interactive():
        return Console(stderr=True)
    return Console(stderr=True, no_color=True, highlight=False, force_terminal=False, soft_wrap=True)


@cache
def stdout():
    """Where tables go: coloured only for a person at a terminal."""
    from rich.console import Console

    if sys.stdout.isatty() and not os.environ.get("CI"):
        return Console()
    return Console(no_color=True, highlight=False, force_terminal=False, width=200)


_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 but tab, DEL, C1


def printable(text: str) -> str:
    """``text`` with control characters written as escapes (``\\x1b``), so none reaches a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def say(message: str) -> None:
    stderr().print(printable(message), markup=False, highlight=False)


def warn(message: str) -> None:
    stderr().print(f"tp: warning: {printable(message)}", markup=False, highlight=False, style="yellow")


class _NoProgress:
    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, completed: float | None = None, status: str | None = None) -> None:
        pass


class _Progress:
    def __init__(self, progress, task):
        self._progress, self._task = progress, task

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)

    def update(self, completed: float | None = None, status: str | None = None) -> None:
        fields = {} if status is None else {"status": status}
        self._progress.update(self._task, completed=completed, **fields)


@contextmanager
def progress(description: str, total: float | None, unit: str = "bytes", status: bool = False):
    """tp's one progress bar, on stderr, or a silent stand-in when nobody is watching. ``unit``: bytes
    or items; ``status``: a text column after the bar (``update(status=…)``)."""
    if not interactive():
        yield _NoProgress()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counter = [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=stderr(), transient=True) as bar:
        yield _Progress(bar, bar.add_task(description, total=total, status=""))
