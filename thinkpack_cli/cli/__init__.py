"""The ``tp`` command line: one module per command, options wired to the library's functions, nothing more.

``app`` holds the error map and the ``command`` decorator, ``options`` every option two commands
share (and the helpers that read them). Heavy libraries are imported inside the commands that need
them, so ``tp --help`` answers at once.
"""

# isort: off
# Registers each command, in the order `tp --help` lists them.
from . import parse, stats, mask, steer, distill, generate, report, browse  # noqa: F401

# isort: on
from .app import app, main

__all__ = ["app", "main"]
