"""The README and ``--help`` as data: their code blocks, examples and option tables.

Pure functions, no pytest: ``tests/test_docs.py`` runs what they find, and
``python tests/readme_blocks.py`` rewrites the README's generated option tables
(``--check`` only says whether they are current).

- A README block is a fenced code block; its language is the word after the fence.
- In a ``console`` block a line starting with ``$ `` is a command (a trailing ``\\`` continues
  it on the next line); the lines after it, up to the next command, are its shown output.
- A command's ``--help`` examples are the indented lines of its epilog after "Examples".
- The option tables sit between ``<!-- options:begin -->`` and ``<!-- options:end -->``.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass
class Command:
    text: str  # as a shell reads it: continuation lines included
    output: list[str] = field(default_factory=list)  # shown output lines ([] when none is shown)
    line: int = 0  # 1-based line of the README (0 for --help examples)


@dataclass
class Block:
    language: str
    text: str
    line: int  # 1-based line of the opening fence
    heading: str  # the section it is in

    def commands(self) -> list[Command]:
        return console_commands(self.text, self.line + 1)


def blocks(markdown: str) -> list[Block]:
    """Every fenced code block, with its language, first line and section heading."""
    found, lines, heading, i = [], markdown.splitlines(), "", 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, body, start = m[2], [], i
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        found.append(Block(m[3].lower(), "\n".join(body) + "\n", start + 1, heading))
        i += 1
    return found


def console_commands(text: str, first_line: int = 1) -> list[Command]:
    """The ``$ `` commands of a console block, with their shown output."""
    commands: list[Command] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            parts, number = [line[2:]], first_line + i
            while parts[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                parts.append(lines[i])
            commands.append(Command("\n".join(parts), [], number))
        elif commands:
            commands[-1].output.append(line.rstrip())
        i += 1
    for command in commands:
        while command.output and not command.output[-1]:
            command.output.pop()
    return commands


def help_examples(epilog: str | None) -> list[str]:
    """The example commands of a ``--help`` epilog, as its reader sees them (rich markup removed)."""
    from rich.text import Text

    if not epilog:
        return []
    lines = Text.from_markup(epilog).plain.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip().rstrip(":") == "Examples"), None)
    if start is None:
        return []
    examples = []
    for line in lines[start:]:
        if line.strip() and not line[0].isspace():
            break  # prose after the examples
        if line.strip():
            examples.append(line.strip())
    return examples


def pipeline(command: str) -> list[str]:
    """The stages of a shell pipeline, split at ``|`` outside quotes and comments (``||`` is not a pipe)."""
    stages, current, quote, i = [], [], None, 0
    while i < len(command):
        c = command[i]
        if quote:
            if c == "\\" and quote == '"' and i + 1 < len(command):
                current.append(command[i : i + 2])
                i += 2
                continue
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "\\" and i + 1 < len(command):
            current.append(command[i : i + 2])
            i += 2
            continue
        elif c == "#" and (i == 0 or command[i - 1].isspace()):
            break  # a comment, which may hold a pipe of its own
        elif c == "|":
            if command[i + 1 : i + 2] == "|":
                current.append("||")
                i += 2
                continue
            stages.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    stages.append("".join(current).strip())
    return stages


def words(command: str) -> list[str]:
    """A command's words as the shell splits them, comments dropped (``[]`` if it cannot be split)."""
    try:
        return shlex.split(command.replace("\\\n", " "), comments=True)
    except ValueError:
        return []


_WILDCARD = ("…", "...")


def output_matches(shown: list[str], actual: str) -> bool:
    """Whether the shown lines match the output: line by line, trailing spaces ignored; ``…`` (or
    ``...``) in a line matches any text, and a line that is only ``…`` matches any lines."""
    got = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    while got and not got[-1]:
        got.pop()

    def line_pattern(line: str) -> re.Pattern:
        pieces = re.split(r"(…|\.\.\.)", line)
        return re.compile("".join(".*" if p in _WILDCARD else re.escape(p) for p in pieces) + r"\Z")

    def match(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(got)
        if shown[i].strip() in _WILDCARD:
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and bool(line_pattern(shown[i]).match(got[j])) and match(i + 1, j + 1)

    return match(0, 0)


# ------------------------------------------------------------------------------------ option tables


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def choices(param) -> list[str] | None:
    """The values an option accepts, when it has a fixed set (typer's Literal or Enum, or click's Choice)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and getattr(desc, "is_choice", False):
        return [str(getattr(c, "value", c)) for c in desc.choices or ()]
    found = getattr(getattr(param, "type", None), "choices", None)
    return [str(c) for c in found] if found else None


def _default(param) -> str:
    if param.required:
        return "required"
    if param.show_default is False or param.default is None:
        return ""
    if getattr(param, "is_flag", False) and isinstance(param.default, bool):
        if param.secondary_opts:
            return f"`{(param.opts if param.default else param.secondary_opts)[0]}`"
        return "on" if param.default else ""
    return f"`{param.default}`"


def _names(param) -> str:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}…`" if param.nargs == -1 else f"`{param.name.upper()}`"
    longs = sorted(param.opts, key=lambda o: not o.startswith("--"))
    names = "/".join(longs[:1] + param.secondary_opts) if param.secondary_opts else longs[0]
    shorts = [o for o in longs[1:]]
    return ", ".join(f"`{n}`" for n in [names, *shorts])


def options_table(command) -> str:
    """A command's arguments and options (click objects) as a Markdown table."""
    from rich.text import Text

    rows = ["| option | default | meaning |", "|---|---|---|"]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        help_text = Text.from_markup(getattr(param, "help", None) or "").plain
        values = choices(param)
        if values:
            help_text += " One of: " + ", ".join(f"`{v}`" for v in values) + "."
        rows.append(f"| {_names(param)} | {_default(param)} | {_cell(help_text)} |")
    return "\n".join(rows)


def tp_commands() -> dict:
    """``tp``'s subcommands by name, as click objects."""
    import typer

    from thinkpack_cli.cli import app

    return dict(typer.main.get_command(app).commands)


def options_section(commands: dict) -> str:
    """What goes between the markers: one collapsed table per command."""
    parts = [BEGIN, ""]
    for name, command in commands.items():
        parts += [
            f"<details><summary><code>tp {name}</code></summary>",
            "",
            options_table(command),
            "",
            "</details>",
            "",
        ]
    parts.append(END)
    return "\n".join(parts)


def with_options(markdown: str, commands: dict) -> str:
    """The README with its option tables regenerated (an error if it has no markers)."""
    start, end = markdown.find(BEGIN), markdown.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {BEGIN} … {END} section")
    return markdown[:start] + options_section(commands) + markdown[end + len(END) :]


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = with_options(text, tp_commands())
    if "--check" in argv:
        print("README option tables are current" if new == text else "README option tables are out of date")
        return 0 if new == text else 1
    if new != text:
        README.write_text(new, encoding="utf-8")
        print(f"rewrote the option tables in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# ------------------------------------------------------------------------------------ Python blocks

# What ``...`` in a call stands for (the reader's own arguments), and the arguments the README's
# free names ``args`` get: one CPU step, nothing saved or reported.
TRAINING = {
    "output_dir": "trainer_out",
    "max_steps": 1,
    "per_device_train_batch_size": 2,
    "report_to": "none",
    "save_strategy": "no",
    "use_cpu": True,
    "disable_tqdm": True,
}
PRELUDE = ("model", "tok", "args")  # names a snippet may use without defining them
_UNSET = object()


def free_names(source: str) -> set[str]:
    """Names a snippet reads but never binds (builtins aside)."""
    import ast
    import builtins

    tree = ast.parse(source)
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound - set(dir(builtins))


def imported_modules(source: str) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _expected(source: str) -> dict[int, object]:
    """Line -> the value a ``# <Python literal>`` comment at its end states."""
    import ast
    import io
    import tokenize

    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            try:
                found[token.start[0]] = ast.literal_eval(token.string[1:].strip())
            except (ValueError, SyntaxError):
                pass  # prose, not a stated value
    return found


def instrument(source: str, filename: str):
    """The snippet compiled so that ``...`` in a call becomes the ``TRAINING`` arguments and each
    top-level expression's value goes to ``__check__(value, line)``."""
    import ast

    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in node.args):
            node.args = [a for a in node.args if not (isinstance(a, ast.Constant) and a.value is Ellipsis)]
            given = {k.arg for k in node.keywords}
            node.keywords += [ast.keyword(k, ast.Constant(v)) for k, v in TRAINING.items() if k not in given]
    tree.body = [
        ast.Expr(ast.Call(ast.Name("__check__", ast.Load()), [s.value, ast.Constant(s.end_lineno)], []))
        if isinstance(s, ast.Expr)
        else s
        for s in tree.body
    ]
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def check_value(value, expected, line: int, where: str) -> None:
    """A top-level expression of a snippet: equal to the value its comment states, or, for a
    transformers Trainer, able to train one step with its labels intact."""
    if expected is not _UNSET:
        assert value == expected, f"{where} line {line}: the snippet says {expected!r}, it gives {value!r}"
        return
    try:
        from transformers import Trainer
    except ImportError:
        return
    if isinstance(value, Trainer):
        value.train()
        assert value.state.global_step == TRAINING["max_steps"], (
            f"{where} line {line}: the trainer did not take its step"
        )
        columns = getattr(value.train_dataset, "column_names", [])
        assert "labels" in columns, f"{where} line {line}: the trainer dropped the labels tp wrote ({columns})"


def run_python(source: str, where: str, first_line: int) -> None:
    """Runs a README snippet in the current folder, its free ``PRELUDE`` names supplied."""
    import docs_world

    expected = _expected(source)
    namespace = {
        "__name__": "__readme__",
        "__check__": lambda v, line: check_value(v, expected.get(line, _UNSET), first_line + line - 1, where),
    }
    free = free_names(source) & set(PRELUDE)
    if free:
        from transformers import AutoTokenizer, TrainingArguments

        tok = AutoTokenizer.from_pretrained(docs_world.TOKENIZER_FOR_SNIPPETS)
        namespace.update(
            {"tok": tok, "model": docs_world.tiny_random_model(tok), "args": TrainingArguments(**TRAINING)}
        )
    exec(instrument(source, where), namespace)
