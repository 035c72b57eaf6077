"""The command line as a user meets it: help, version, light imports, terminal manners."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from thinkpack_cli import __version__
from thinkpack_cli.cli import app

COMMANDS = ["parse", "stats", "mask", "steer", "distill", "generate"]


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_examples(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert f"tp {name}" in result.stdout


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.stdout == f"tp {__version__}\n"


def test_help_imports_nothing_heavy():
    """`tp --help` must answer at once: no transformers, torch, pyarrow or math-verify behind it."""
    code = (
        "import sys; from thinkpack_cli.cli import main; sys.argv = ['tp', 'parse', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('transformers', 'torch', 'pyarrow', 'math_verify', 'vllm') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "[]"


def test_plain_parse_does_not_import_transformers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"response": "<think>a</think>b"}) + "\n")
    code = (
        "import sys; from thinkpack_cli.cli import main; sys.argv = ['tp', 'parse', '-q', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('transformers', 'torch') if m in sys.modules], file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["status"] == "valid"
    assert result.stderr.strip() == "[]"


def test_no_colour_or_progress_when_not_a_terminal(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"response": f"<think>{i}</think>{i}"}) + "\n" for i in range(50)))
    result = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "stats", str(path)],
        capture_output=True,
        text=True,
        env={"CI": "true", "PATH": ""},
    )
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout + result.stderr
    assert result.stderr == f"tp stats {path}: 50 records read, 50 counted, 0 skipped\n"


def test_usage_error_from_typer_exits_2():
    result = CliRunner().invoke(app, ["parse", "--no-such-option"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["parse", "--on-error", "x"],
            "tp: error: Invalid value for '--on-error': Value error, 'x' is not one of 'fail', 'skip'. (see 'tp parse --help')\n",
        ),
        (
            ["stats", "--grader", "fuzzy", "-"],
            "tp: error: Invalid value for '--grader': Value error, 'fuzzy' is not one of 'math', 'exact', 'none'. (see 'tp stats --help')\n",
        ),
        (["parse", "--bogus"], "tp: error: No such option: --bogus (see 'tp parse --help')\n"),
        (["nosuch"], "tp: error: No such command 'nosuch'. (see 'tp --help')\n"),
    ],
    ids=["bad-choice", "bad-grader", "unknown-option", "unknown-command"],
)
def test_click_usage_errors_are_one_line_like_tps_own(args, message):
    result = subprocess.run([sys.executable, "-m", "thinkpack_cli", *args], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (2, message)


@pytest.mark.parametrize(
    "command, option, choices",
    [
        ("parse", "--input-format", "<jsonl|parquet|arrow>"),
        ("stats", "--grader", "<math|exact|none>"),
        ("mask", "--train-turns", "<last|all>"),
        ("mask", "--overflow", "<truncate|drop>"),
        ("distill", "--keep", "<correct|first|all>"),
        ("generate", "--backend", "<vllm|transformers|openai>"),
    ],
)
def test_an_option_with_fixed_choices_shows_them_in_help(command, option, choices):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    line = next(line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith(option + " "))
    assert choices in line


def test_broken_pipe_is_quiet(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"response": "x" * 1000}) + "\n" for _ in range(20000)))
    parse = subprocess.Popen(
        [sys.executable, "-m", "thinkpack_cli", "parse", "-q", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    parse.stdout.readline()
    parse.stdout.close()  # the reader goes away, as `| head -1` does
    assert parse.wait() == 0
    assert parse.stderr.read() == b""


def test_no_input_at_a_terminal_is_a_usage_error():
    """Without a file and with a person's terminal on stdin, say so instead of waiting."""
    import pty

    leader, follower = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "parse"], stdin=follower, capture_output=True, text=True, timeout=60
    )
    os.close(leader)
    os.close(follower)
    assert result.returncode == 2
    assert "no input: name a file, or pipe records in" in result.stderr
