"""Signals end a run as Ctrl-C does, and none is lost while tp waits on a pipe.

SIGTERM and SIGHUP raise ``errors.Interrupted`` where the run is (exit 128 + N). Python runs a
signal's handler only between bytecodes, so a signal that lands while C code loops over system
calls (a buffered ``read(n)`` on a pipe asks the kernel again and again until it has n bytes)
stays pending until that loop ends: on a FIFO whose writer is silent, forever. Pipes are
therefore read one system call at a time, after waiting on both the pipe and the signal
wakeup descriptor, which the C-level handler writes to even when the signal arrives just
before the wait.
"""

from __future__ import annotations

import io
import os
import select
import signal
import sys

from .errors import Interrupted

_wakeup: int | None = None  # the read end of the signal wakeup pipe, once install() ran


def install() -> None:
    """For the ``tp`` process only: a library caller keeps its own signal handling."""
    global _wakeup
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    _wakeup = read_end


def _interrupt(signum: int, frame) -> None:
    # One is enough: a second signal must not cut short the clean-up (temporary files) the first began.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise Interrupted(signum)


def bind_worker(parent: int) -> None:
    """Make a forked worker die with the main process ``parent``, however that dies (kill -9
    too), and leave Ctrl-C and SIGHUP to the main process, which stops its workers itself."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before that took hold
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class PipeReader(io.RawIOBase):
    """A pipe, FIFO or terminal as a raw stream whose every read is one system call made once the
    pipe is readable, so Python code (the pending handler) runs between any two of them."""

    def __init__(self, raw: io.FileIO, name: str):
        super().__init__()
        self.raw, self.fd, self.name = raw, raw.fileno(), name

    def fileno(self) -> int:
        return self.fd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while _wakeup is not None:
            ready, _, _ = select.select([self.fd, _wakeup], [], [])
            if self.fd in ready:
                break
            _drain_wakeup()  # a signal whose handler did not end the run (SIGALRM): wait again
        return os.readv(self.fd, [buffer])

    def close(self) -> None:
        self.raw.close()  # closes the descriptor unless it is stdin's
        super().close()


def _drain_wakeup() -> None:
    try:
        while os.read(_wakeup, 512):
            pass
    except BlockingIOError:
        pass
