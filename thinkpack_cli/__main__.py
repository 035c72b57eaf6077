"""The ``tp`` command and ``python -m thinkpack_cli``: make the process safe to run, then the CLI.

This module imports nothing heavy, so its set-up is in place before typer, rich or pyarrow load:
a Ctrl-C, SIGTERM or SIGHUP from the first instant ends the run as an interruption (exit 128 + N,
no traceback), and a closed stdin, stdout or stderr cannot be taken over by a file tp opens.
"""

from __future__ import annotations

import io
import os
import sys

from . import interrupts
from .errors import EXIT_INTERRUPTED


def main() -> None:
    _hold_standard_fds()
    interrupts.install()
    try:
        from .cli import main as run

        run()
    except KeyboardInterrupt as e:  # before a command's own handling: while importing, or parsing options
        try:
            sys.stderr.write("tp: error: interrupted\n")
        except (OSError, AttributeError):
            pass
        sys.exit(getattr(e, "exit_code", EXIT_INTERRUPTED))


def _hold_standard_fds() -> None:
    """A closed stdin, stdout or stderr (``tp … >&-``) gets /dev/null, so no file tp opens later
    takes its number. stdin and stdout get it the wrong way round: reading or writing them fails
    (EBADF) as it would have, and tp reports that; what is said to a closed stderr is dropped."""
    for fd, mode in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd:  # unbuffered, so a failed write leaves nothing for the exit's flush to fail on again
                stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True)
                setattr(sys, ("stdout", "stderr")[fd - 1], stream)


if __name__ == "__main__":
    main()
