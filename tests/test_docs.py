"""The README and ``--help`` are tested artefacts: every example in them runs here.

- Every ``$ `` command of a ``console`` block in the README, and every example of every command's
  ``--help``, runs with bash (``set -o pipefail``) in a fresh copy of the example world
  (``docs_world.py``: the files and models the examples name), with the ``tp`` of this Python on
  PATH. It must exit 0; each stage of a pipe must hand the next one something to read; each file it
  writes (``-o``, ``>``) must be written and not empty, and one that writes no file must print
  something; ``export`` lines set the environment of the commands after them in their block.
  Where the README shows output under a command, the output must match it: stdout (or stderr and
  stdout, either order, since a terminal shows both), line by line, trailing spaces ignored, the
  copy's path written as ``.``, and ``…`` (or ``...``) matching any text within a line, or any
  lines when it stands alone.
- Every ``--base-url`` is pointed at a loopback server (``tp generate``'s at a completions server
  for the scripted model, every other's at the teacher); ``make X`` runs the Makefile's target in
  this checkout without rebuilding its environment (its stamps ``.venv/.base`` and
  ``.venv/.installed`` count as current).
- Skipped, each saying why: a command that needs a GPU (vLLM), the network (``pip``, ``curl``), a
  model download (a hub name the world does not hold), data only developers have (``../shared``),
  or that would run this suite itself (``make test``).
- Every ``python`` block runs in its own process in a fresh world. Names it uses without defining
  them (``model``, ``tok``, ``args``) are a tiny random Qwen3, the Qwen3 tokenizer, and training
  arguments for one CPU step; ``...`` in a call stands for the reader's own arguments (the same
  one-step arguments). A top-level expression with a ``# <Python literal>`` comment must equal it;
  a Trainer built by a top-level expression trains one step and keeps the labels tp wrote.
- The README's option tables are generated from the code (``python tests/readme_blocks.py``
  rewrites them), and every option the README or an option's help names exists.

The commands run side by side in threads (each is its own process); identical commands (README and
``--help`` repeat many) run once.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import docs_world  # noqa: E402
import readme_blocks as rb  # noqa: E402

README_TEXT = rb.README.read_text(encoding="utf-8")
BLOCKS = rb.blocks(README_TEXT)
TIMEOUT = 300  # seconds for one command: a hang is a failure, not a stuck CI job


@dataclass(frozen=True)
class Example:
    where: str  # README.md:LINE, or `tp CMD --help` and the example's number
    command: str
    output: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def _assignment(command: str) -> dict[str, str] | None:
    """``export A=1 B=2`` or ``A=1``: the variables a line sets, or None if it is a command."""
    words = rb.words(command)
    if words[:1] == ["export"]:
        words = words[1:]
    if words and all(re.fullmatch(r"[A-Za-z_]\w*=.*", w) for w in words):
        return dict(w.split("=", 1) for w in words)
    return None


def readme_examples(blocks: list[rb.Block]) -> list[Example]:
    examples = []
    for block in blocks:
        if block.language != "console":
            continue
        env: dict[str, str] = {}
        for command in block.commands():
            assigned = _assignment(command.text)
            if assigned is not None:
                env.update(assigned)
                continue
            examples.append(
                Example(f"README.md:{command.line}", command.text, tuple(command.output), tuple(env.items()))
            )
    return examples


def help_examples() -> list[Example]:
    return [
        Example(f"tp {name} --help, example {i}", text)
        for name, command in rb.tp_commands().items()
        for i, text in enumerate(rb.help_examples(command.epilog), 1)
    ]


EXAMPLES = readme_examples(BLOCKS) + help_examples()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language in ("python", "py", "python3")]


# ------------------------------------------------------------------------------------ running


@dataclass
class Run:
    skipped: str | None = None
    command: str = ""  # as it ran (URLs and make rewritten, pipes tapped)
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    empty_pipes: list[str] = field(default_factory=list)
    unwritten: list[str] = field(default_factory=list)
    folder: Path | None = None


_MAKE_SKIPS = {
    "test": "runs this test suite itself",
    "bench": "needs the network (pip installs the peers it measures into .venv-bench) and takes minutes",
    "install": "builds the environment the tests run in",
    "clean": "deletes the environment the tests run in",
}
_NETWORK = {"pip", "pip3", "curl", "wget", "huggingface-cli", "hf", "git"}


def _value(words: list[str], *names: str) -> list[str]:
    values = []
    for i, w in enumerate(words):
        if w in names and i + 1 < len(words):
            values.append(words[i + 1])
        values += [w.split("=", 1)[1] for n in names if n.startswith("--") and w.startswith(n + "=")]
    return values


def skip_reason(command: str, world: docs_world.World) -> str | None:
    """Why a command cannot run here (None: it can)."""
    for stage in rb.pipeline(command):
        words = rb.words(stage)
        if not words:
            continue
        if words[0] in _NETWORK:
            return f"needs the network ({words[0]})"
        if words[0] == "vllm":
            return "needs a GPU (vllm)"
        if words[0] == "make":
            target = next((w for w in words[1:] if not w.startswith("-")), "")
            if target in _MAKE_SKIPS:
                return f"make {target}: {_MAKE_SKIPS[target]}"
            if not (rb.README.parent / ".venv" / "bin" / "tp").exists():
                return "make runs the checkout's .venv, which is not built (make install)"
        if words[0] != "tp" or len(words) < 2:
            continue
        backend = (_value(words, "--backend") or [None])[0]
        if backend == "vllm":
            return "needs vLLM and a GPU (--backend vllm)"
        if words[1] == "generate" and backend is None and importlib.util.find_spec("vllm") is not None:
            return "would use vLLM (installed here), which needs a GPU"
        local = ["-t", "--tokenizer"] + (
            [] if words[1] == "distill" or backend == "openai" else ["-m", "--model", "--adapter"]
        )
        for name in _value(words, *local):
            hub = "/" in name and not name.startswith((".", "/", "~")) and name not in world.names
            if hub and not Path(name).exists():
                return f"needs a model download ({name}: not in the example world, tests/docs_world.py)"
    return None


def rewrite(command: str, world: docs_world.World) -> str:
    """The command as it runs here: every --base-url on a loopback server, make without a
    rebuild, and a tap (tee) on every pipe, so an empty pipe shows."""
    stages = rb.pipeline(command)
    for i, stage in enumerate(stages):
        words = rb.words(stage)
        if words[:1] == ["make"]:
            # -o: the environment's stamps count as current, so make never rebuilds the .venv the tests run in
            stages[i] = f"make -C {rb.README.parent} -o .venv/.base -o .venv/.installed " + " ".join(words[1:])
        elif "--base-url" in stage:
            url = world.completions_url() if words[:2] == ["tp", "generate"] else world.teacher_url()
            stages[i] = re.sub(r"(--base-url)(\s+|=)\S+", lambda m, url=url: m[1] + m[2] + url, stage)
    return "".join(stage if i == 0 else f" | tee .pipe{i} | {stage}" for i, stage in enumerate(stages))


def _written(command: str, env: dict[str, str]) -> list[str]:
    """The files a command says it writes: ``-o``/``--output`` and ``>``/``>>`` targets."""
    targets = []
    for stage in rb.pipeline(command):
        words = rb.words(stage)
        if words[:1] == ["tp"]:
            targets += _value(words, "-o", "--output")
        targets += [words[i + 1] for i, w in enumerate(words[:-1]) if w in (">", ">>")]
        targets += [w.lstrip(">") for w in words if re.fullmatch(r">>?[^>&].*", w)]
    return [re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), t) for t in targets]


def _prints(command: str) -> bool:
    """Whether the command's output goes to the terminal: its last stage writes no file."""
    last = rb.pipeline(command)[-1]
    return bool(rb.words(last)) and not _written(last, {}) and _assignment(last) is None


class Runner:
    """Runs examples in a thread pool, each command once whatever the number of places it appears."""

    def __init__(self, world: docs_world.World, root: Path):
        self.world, self.root = world, root
        self.pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        self.jobs: dict[object, Future] = {}
        self.lock = threading.Lock()
        self.count = 0

    def submit(self, example: Example) -> Future:
        return self._job(("command", example.command, example.env), self._run, example)

    def submit_python(self, block: rb.Block) -> Future:
        return self._job(("python", block.line, block.text), self._run_python, block)

    def _job(self, key, fn, arg) -> Future:
        with self.lock:
            if key not in self.jobs:
                self.count += 1
                self.jobs[key] = self.pool.submit(fn, arg, self.root / f"run{self.count}")
            return self.jobs[key]

    def _run(self, example: Example, folder: Path) -> Run:
        why = skip_reason(example.command, self.world) or self.world.prepare(example.command)
        if why:
            return Run(skipped=why)
        command = rewrite(example.command, self.world)
        self.world.fresh(folder)
        env = self.world.env | dict(example.env)
        try:
            done = subprocess.run(
                ["bash", "-c", "set -o pipefail\n" + command],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired as e:
            return Run(
                command=command, rc=-1, stdout=str(e.stdout or ""), stderr=f"timed out after {TIMEOUT} s", folder=folder
            )
        stages = rb.pipeline(example.command)
        empty = [
            f"{stages[i - 1]!r} | {stages[i]!r}"
            for i in range(1, len(stages))
            if not (folder / f".pipe{i}").exists() or (folder / f".pipe{i}").stat().st_size == 0
        ]
        unwritten = [
            t for t in _written(example.command, env) if not (folder / t).is_file() or (folder / t).stat().st_size == 0
        ]
        return Run(None, command, done.returncode, done.stdout, done.stderr, empty, unwritten, folder)

    def _run_python(self, block: rb.Block, folder: Path) -> Run:
        where = f"README.md:{block.line}"
        absent = sorted(
            m for m in rb.imported_modules(block.text) if m != "thinkpack_cli" and importlib.util.find_spec(m) is None
        )
        if absent:
            return Run(skipped=f"needs {', '.join(absent)} (pip install -e '.[test,generate]')")
        needs = block.text
        if rb.free_names(block.text) & set(rb.PRELUDE):
            if importlib.util.find_spec("torch") is None:
                return Run(skipped="its model needs torch (pip install -e '.[generate]')")
            needs += f" {docs_world.TOKENIZER_FOR_SNIPPETS}"
        why = self.world.prepare(needs)
        if why:
            return Run(skipped=why)
        self.world.fresh(folder)
        (folder / ".snippet.py").write_text(block.text, encoding="utf-8")
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import readme_blocks; "
            f"readme_blocks.run_python(open('.snippet.py').read(), {where!r}, {block.line + 1})"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=folder,
            env=self.world.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Run(None, block.text, done.returncode, done.stdout, done.stderr, folder=folder)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    w = docs_world.World(tmp_path_factory.mktemp("docs-world"))
    yield w
    w.close()


@pytest.fixture(scope="session")
def runner(world, tmp_path_factory, request):
    r = Runner(world, tmp_path_factory.mktemp("docs-runs"))
    for item in request.session.items:  # start every selected example now: they run side by side
        params = getattr(getattr(item, "callspec", None), "params", {})
        if isinstance(params.get("example"), Example):
            r.submit(params["example"])
        if isinstance(params.get("block"), rb.Block):
            r.submit_python(params["block"])
    yield r
    r.pool.shutdown(wait=True, cancel_futures=True)


def _shown(output: str, folder: Path) -> str:
    return output.replace(f"{folder}/", "").replace(str(folder), ".")


def check(example: Example, run: Run) -> None:
    if run.skipped:
        pytest.skip(f"{example.where}: {run.skipped}")
    said = f"{example.where}: {example.command}\nran: {run.command}\nstderr:\n{run.stderr[-3000:]}"
    assert run.rc == 0, f"exit {run.rc}\n{said}"
    assert not run.empty_pipes, f"nothing went through the pipe {run.empty_pipes[0]}\n{said}"
    assert not run.unwritten, f"{run.unwritten} not written (or empty)\n{said}"
    if not example.output and _prints(example.command):
        assert run.stdout.strip(), (
            f"printed nothing (an example whose output goes to the terminal shows something)\n{said}"
        )
    if example.output:
        candidates = [run.stdout, run.stderr + run.stdout, run.stdout + run.stderr]
        assert any(rb.output_matches(list(example.output), _shown(c, run.folder)) for c in candidates), (
            "the output differs from the README's:\n"
            + "\n".join(example.output)
            + f"\n--- got (stdout):\n{_shown(run.stdout, run.folder)}\n--- stderr:\n{_shown(run.stderr, run.folder)}"
        )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_example_runs(example, runner):
    """Proves the example does what the README or --help says, on the bundled samples."""
    check(example, runner.submit(example).result())


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"README.md:{b.line}" for b in PYTHON_BLOCKS])
def test_python_block_runs(block, runner):
    """Proves the snippet runs as printed (with the stated stand-ins) and gives the values it states."""
    unknown = rb.free_names(block.text) - set(rb.PRELUDE)
    assert not unknown, f"README.md:{block.line} uses names it never defines: {sorted(unknown)}"
    run = runner.submit_python(block).result()
    if run.skipped:
        pytest.skip(f"README.md:{block.line}: {run.skipped}")
    assert run.rc == 0, f"README.md:{block.line} failed:\n{run.stderr[-4000:]}"


def test_the_readme_has_examples_and_snippets():
    """Proves the harness finds what it is meant to test (a renamed fence would hide everything)."""
    assert len([e for e in EXAMPLES if e.where.startswith("README")]) >= 10
    assert {name for name in rb.tp_commands()} <= {e.where.split()[1] for e in EXAMPLES if "--help" in e.where}
    assert PYTHON_BLOCKS


# ------------------------------------------------------------------------------------ option tables


def test_readme_option_tables_are_generated_from_the_code():
    """Proves the README's option tables are those of the code: a renamed option, a changed
    default or a reworded help turns this red until `python tests/readme_blocks.py` rewrites them."""
    assert rb.with_options(README_TEXT, rb.tp_commands()) == README_TEXT, (
        "the README's option tables are out of date: run `.venv/bin/python tests/readme_blocks.py`"
    )


def test_a_changed_default_or_name_changes_the_tables():
    """Proves the generated tables depend on each option's name and default."""
    commands = rb.tp_commands()
    before = rb.options_section(commands)
    changed = copy.deepcopy(commands)
    option = next(p for p in changed["parse"].params if "--format" in p.opts)
    option.default = "think"
    assert rb.options_section(changed) != before
    option.opts = ["--reasoning-format"]
    assert "`--reasoning-format`" in rb.options_section(changed)


# tp's options are lower case with hyphens (another tool's, like lm-eval's --log_samples, may differ).
_OPTION = r"(?<![\w-])(--?[a-z][a-z0-9-]*)(?![\w])"


_OTHER_TOOLS = {"lighteval", "lm-eval", "lm_eval", "vllm", "sglang", "pip", "pytest", "make", "jq"}  # "lighteval `--x`"


def _options() -> dict[str, set[str]]:
    return {
        name: {o for p in c.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
        for name, c in rb.tp_commands().items()
    }


def test_every_option_the_readme_names_exists():
    """Proves no README prose or table names an option tp does not have: in code spans that are
    options (`--mask`) or tp commands (`tp stats --json`), outside the generated tables."""
    options = _options()
    every = set().union(*options.values())
    start, end = README_TEXT.find(rb.BEGIN), README_TEXT.find(rb.END)
    prose = README_TEXT[:start] + README_TEXT[end:] if start >= 0 else README_TEXT
    prose = re.sub(r"^(```|~~~).*?^\1", "", prose, flags=re.S | re.M)  # blocks run in their own tests
    wrong = []
    for before, span in re.findall(r"([\w-]*)\s*`+\s*([^`]+?)\s*`+", prose):
        command = re.match(r"tp (\w+)", span)
        if not (span.startswith("--") or command) or before.lower() in _OTHER_TOOLS:
            continue
        known = options.get(command[1], set()) if command else every
        wrong += [
            f"{o} in `{span}`" for o in re.findall(_OPTION, span) if o not in known and o not in ("-", "--help", "-h")
        ]
    assert not wrong, f"the README names options tp does not have: {wrong}"


def test_every_option_an_option_help_names_exists():
    """Proves an option's help never points at an option that was renamed or removed."""
    options = _options()
    every = set().union(*options.values())
    wrong = [
        f"tp {name} {'/'.join(p.opts)}: {o}"
        for name, c in rb.tp_commands().items()
        for p in c.params
        for o in re.findall(_OPTION, getattr(p, "help", None) or "")
        if o.startswith("--") and o not in every
    ]
    assert not wrong, f"option help names options tp does not have: {wrong}"


def test_option_value_tables_match_the_options():
    """Proves a README table keyed by an option (its first header cell is `--format`) lists values
    that option takes: its choices exactly, or values its help names."""
    checked = 0
    for table in re.findall(r"^\| `(--[\w-]+)` \|.*\n\|[-| ]+\|\n((?:\|.*\n)+)", README_TEXT, flags=re.M):
        option, rows = table
        values = re.findall(r"^\| `([\w-]+)`", rows, flags=re.M)
        params = [p for c in rb.tp_commands().values() for p in c.params if option in p.opts]
        assert params, f"the README has a table of {option}, which no command has"
        for p in params:
            choices = rb.choices(p)
            if choices:
                assert set(values) == {str(c) for c in choices}, f"{option}: README {values}, code {choices}"
            else:
                missing = [v for v in values if not re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", p.help or "")]
                assert not missing, f"{option}: the README's values {missing} are not in its help: {p.help!r}"
        checked += 1
    assert checked, "no option-value table found (the --format table)"


# ------------------------------------------------------------------------------------ the harness itself


def test_console_blocks_parse_into_commands_and_shown_output():
    """Proves the block reader: languages, continuation lines, shown output, exports."""
    text = (
        "# T\n\n```console\n$ export KEY=abc\n$ tp parse a.jsonl \\\n    --field x\nline one\n  two  \n\n"
        "$ tp stats -\n```\n\n~~~python\nprint(1)\n~~~\n"
    )
    found = rb.blocks(text)
    assert [(b.language, b.line, b.heading) for b in found] == [("console", 3, "T"), ("python", 13, "T")]
    commands = found[0].commands()
    assert [(c.text, c.output, c.line) for c in commands] == [
        ("export KEY=abc", [], 4),
        ("tp parse a.jsonl \\\n    --field x", ["line one", "  two"], 5),
        ("tp stats -", [], 10),
    ]
    assert [(e.command, e.env) for e in readme_examples(found)] == [
        ("tp parse a.jsonl \\\n    --field x", (("KEY", "abc"),)),
        ("tp stats -", (("KEY", "abc"),)),
    ]


def test_help_examples_are_the_indented_lines_after_examples():
    epilog = "[b]Examples[/b]\n\n  tp a x.jsonl\n  tp b 'y[0]'\n\nProse after, not an example.\n  indented prose\n"
    assert rb.help_examples(epilog) == ["tp a x.jsonl", "tp b 'y[0]'"]
    assert rb.help_examples("No examples here.") == []


def test_pipelines_split_outside_quotes_and_comments():
    assert rb.pipeline("cat a | tp parse --open '|' | tp stats -") == ["cat a", "tp parse --open '|'", "tp stats -"]
    assert rb.pipeline('tp x "a|b" || true') == ['tp x "a|b" || true']
    assert rb.pipeline("make demo    # tp parse s | tp stats -") == ["make demo"]


@pytest.mark.parametrize(
    "shown, actual, ok",
    [
        (["a", "b"], "a\nb\n", True),
        (["a", "b"], "a  \nb\n\n", True),
        (["a", "b"], "a\nc\n", False),
        (["a"], "a\nb\n", False),
        (["tp parse: 3 records read in … s"], "tp parse: 3 records read in 0.12 s\n", True),
        (["first", "…", "last"], "first\nx\ny\nlast\n", True),
        (["first", "…", "last"], "first\nlast\n", True),
        (["first", "…", "last"], "first\nx\n", False),
    ],
)
def test_shown_output_matching(shown, actual, ok):
    assert rb.output_matches(shown, actual) is ok


def test_snippet_values_are_checked_against_their_comments(tmp_path, monkeypatch):
    """Proves a Python block's `# literal` comment is an assertion, and prose comments are not."""
    monkeypatch.chdir(tmp_path)
    rb.run_python("x = 2\nx + 2  # 4\nx  # just a note\n", "snippet", 1)
    with pytest.raises(AssertionError, match="says 5, it gives 4"):
        rb.run_python("x = 2\nx + 2  # 5\n", "snippet", 1)
    assert rb.free_names("from a import b\nc = b(model, tok)\nprint(c, d)\n") == {"model", "tok", "d"}


def test_a_broken_example_turns_red(runner):
    """Proves the checks can fail: an unknown option, an empty pipe (the bug the generate example
    had: `-o` leaves stdout empty), a missing output file, a command that prints nothing (a filter
    no record passes) and output the README does not show."""
    cases = {
        "tp parse outputs.jsonl --no-such-option": "exit 2",
        "tp parse outputs.jsonl -o parsed.jsonl | tp stats -": "nothing went through the pipe",
        "tp parse outputs.jsonl -q > parsed.jsonl; rm parsed.jsonl": "not written",
        "tp sample outputs.jsonl --where 'model == \"no such model\"'": "printed nothing",
    }
    for command, message in cases.items():
        with pytest.raises(AssertionError, match=message):
            check(Example("self-test", command), runner.submit(Example("self-test", command)).result())
    shown = Example("self-test", "echo hello", ("goodbye",))
    with pytest.raises(AssertionError, match="differs from the README"):
        check(shown, runner.submit(shown).result())


# ------------------------------------------------------------------------------------ the world's servers


def _post(url: str, body: dict) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url + "/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_completions_server_ends_at_a_stop_string_as_vllm_does(world):
    """Proves the world's completions endpoint stops generating at the first stop string, as vLLM
    does, however large max_tokens is (tp asks for its whole thinking budget, 32768 tokens: the
    server once generated all of them before cutting, which is how the generate examples hung),
    and refuses a request larger than the model's context with vLLM's 400."""
    why = world.prepare(f"{docs_world.MODEL} {docs_world.ADAPTER}")
    if why:
        pytest.skip(why)
    url = world.completions_url()
    steps = []
    hook = world._completions.model.get_base_model().register_forward_hook(lambda *_: steps.append(1))
    try:
        status, reply = _post(
            url,
            {
                "model": docs_world.SERVED,
                "prompt": "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n",
                "max_tokens": 32768,
                "stop": ["</think>"],
                "temperature": 0,
            },
        )
    finally:
        hook.remove()
    assert status == 200, reply
    choice = reply["choices"][0]
    assert (choice["finish_reason"], choice["stop_reason"], choice["text"]) == ("stop", "</think>", " So")
    assert choice["logprobs"]["tokens"] == [" So", "</think>"]
    assert len(steps) == 2, f"{len(steps)} forward passes for 2 tokens: it generated past the stop string"
    status, reply = _post(url, {"model": docs_world.ADAPTER, "prompt": "x", "max_tokens": 40960})
    assert status == 400 and "maximum context length is 40960 tokens" in reply["error"]["message"], reply
