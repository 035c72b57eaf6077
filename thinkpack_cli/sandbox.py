"""Chat templates are code from a model repository: render them within bounds.

transformers renders in Jinja's sandbox, which stops a template from reaching Python's internals
but not from looping ``range(100000)`` inside ``range(100000)`` or building ``'x' * 10**10``
(20 GB). ``bound`` makes every render of a tokenizer's template stop, with a clear error, after
``SECONDS`` or when it needs more than ``MEMORY`` bytes beyond what the process holds: a timer
signal interrupts a loop between steps, and an address-space limit makes a runaway allocation
fail at once instead of swapping the machine.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from typing import Any

SECONDS = 10.0  # real templates render a conversation in milliseconds
MEMORY = 1 << 30  # and need a few MB for the largest training record
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class RenderLimit(RuntimeError):
    """A chat template ran past its time or memory bound."""


def bound(tokenizer: Any) -> Any:
    """``tokenizer`` whose ``apply_chat_template`` renders within the bounds, for every caller."""
    render = tokenizer.apply_chat_template

    @functools.wraps(render)
    def bounded(*args, **kwargs):
        with _time_limit(SECONDS), _memory_limit(MEMORY):
            try:
                return render(*args, **kwargs)
            except MemoryError:
                raise RenderLimit(f"rendering needed more than {MEMORY >> 20} MB (a runaway string or list?)") from None

    tokenizer.apply_chat_template = bounded
    return tokenizer


class _time_limit:
    """SIGALRM after ``seconds``, raised as ``RenderLimit`` where the render is; main thread only,
    where Python runs signal handlers (each of tp's worker processes renders in its main thread)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _expired(self, signum, frame):
        raise RenderLimit(f"rendering took longer than {self.seconds:g} s (a runaway loop?)")

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


class _memory_limit:
    """RLIMIT_AS at the process's current size plus ``extra`` for the render, then as it was."""

    def __init__(self, extra: int):
        self.extra = extra

    def __enter__(self):
        try:
            import resource

            with open("/proc/self/statm") as f:
                size = int(f.read().split()[0]) * PAGE
        except (ImportError, OSError):  # not Linux: the time bound alone
            self.previous = None
            return
        self.resource = resource
        self.previous = resource.getrlimit(resource.RLIMIT_AS)
        soft, hard = self.previous
        limit = size + self.extra
        if soft == resource.RLIM_INFINITY or limit < soft:  # never looser than the user's own limit
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def __exit__(self, *exc):
        if self.previous is not None:
            self.resource.setrlimit(self.resource.RLIMIT_AS, self.previous)
