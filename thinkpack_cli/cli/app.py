"""The ``tp`` application: its one error map (every failure one line on stderr and an exit code),
the ``command`` decorator each command registers with, ``--version``, and ``main``."""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from .. import __version__
from ..errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, OutputError, TpError


class _OneLineErrors(TyperGroup):
    """Click's own usage errors (an unknown option, a value not among the choices) as one line on
    stderr and exit 2, like tp's, instead of a box with the usage; in the CLI and under CliRunner alike."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except TyperException as e:
            context = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError":  # `tp` alone: its help, as a usage error
                context.get_help()
            else:
                _say_error(e.format_message() + (f" (see '{context.command_path} --help')" if context else ""))
            sys.exit(getattr(e, "exit_code", EXIT_USAGE))
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="tp",
    cls=_OneLineErrors,
    help="Work with reasoning blocks (<think>…</think> and its cousins) in training and evaluation data.",
    no_args_is_help=True,
    add_completion=True,  # tp --install-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def command(name: str, epilog: str):
    """Register a command whose errors become one line on stderr and an exit code."""

    def register(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except OutputError as e:
                _drop_stdout()
                _fail(str(e), e.exit_code, e.label)
            except TpError as e:
                _fail(str(e), e.exit_code, e.label)
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM and SIGHUP as errors.Interrupted
                _fail(f"interrupted by {e}" if str(e) else "interrupted", getattr(e, "exit_code", EXIT_INTERRUPTED))
            except BrokenPipeError:
                # The reader went away (`tp parse … | head`): stop quietly.
                _drop_stdout()
                raise typer.Exit(0) from None
            except (typer.Exit, typer.Abort):
                raise
            except OSError as e:  # the machine, not tp: a full disk, a read-only folder, a closed stream
                _drop_stdout()
                where = f"{e.filename}: " if e.filename else ""
                _fail(f"{where}{e.strerror or e}", EXIT_USAGE)
            except Exception as e:
                if os.environ.get("TP_DEBUG") == "1":
                    raise
                _fail(f"internal error: {type(e).__name__}: {e} (run with TP_DEBUG=1 for a traceback)", EXIT_BUG)

        return app.command(name, epilog=epilog)(run)

    return register


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered for a stream that failed (a closed
    pipe, a full disk) does not fail again when Python flushes it at exit."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _fail(message: str, code: int, label: str = "error"):
    _say_error(message, label)
    raise typer.Exit(code)


def _say_error(message: str, label: str = "error") -> None:
    from .. import console

    try:
        for line in message.splitlines() or [""]:
            console.stderr().print(
                f"tp: {label}: {console.printable(line)}", markup=False, highlight=False, style="red"
            )
    except OSError:
        pass  # stderr itself is gone: the exit code still tells


def _version(value: bool):
    if value:
        typer.echo(f"tp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
):
    pass


def main() -> None:
    app(prog_name="tp")
