"""Errors and the exit codes they map to: the only place that decides both.

0 success · 1 a ``--fail-if`` gate was missed · 2 bad usage, bad input, or output that cannot be
written (a full disk, a read-only folder, a closed stdout) ·
3 incomplete: some records failed after every retry (rerun to retry them) ·
70 a bug in tp (with a traceback only under ``TP_DEBUG=1``) · 128 + N stopped by signal N
(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class TpError(Exception):
    """An error the user can act on; each line of its message is printed as ``tp: LABEL: line``."""

    exit_code = EXIT_USAGE
    label = "error"


class UsageError(TpError):
    """Options that cannot work together or name something that does not exist."""


class InputError(TpError):
    """Input that cannot be read: names the file, the line and the reason."""

    def __init__(self, source: str, line: int | None, reason: str):
        self.source, self.line, self.reason = source, line, reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # raised in a worker process, it crosses back to the main one
        return InputError, (self.source, self.line, self.reason)


class OutputError(TpError):
    """Output that cannot be written: a full disk, a read-only folder, a closed stdout."""

    def __init__(self, where: str, error: OSError | str):
        self.where = where
        self.reason = error if isinstance(error, str) else (error.strerror or str(error))
        super().__init__(f"cannot write {where}: {self.reason}")

    def __reduce__(self):
        return OutputError, (self.where, self.reason)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the run is, so it stops as it would on Ctrl-C."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class GateFailed(TpError):
    """One or more ``--fail-if`` gates were missed: one line per miss."""

    exit_code = EXIT_GATE
    label = "gate missed"


class Incomplete(TpError):
    """The run finished, but some records failed after every retry; a rerun retries them."""

    exit_code = EXIT_INCOMPLETE
    label = "incomplete"


class RecordError(ValueError):
    """One record cannot be processed; the I/O layer adds where it came from."""
