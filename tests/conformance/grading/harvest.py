#!/usr/bin/env python3
"""Harvest the grading test cases of Math-Verify and lighteval as data: ``harvest.py MIRROR...``.

Each MIRROR is a bare git directory of github:huggingface/Math-Verify or
github:huggingface/lighteval (as ``fetch`` leaves them). The test files are read, never
run: every ``@pytest.mark.parametrize`` of a test that calls the repository's
``compare_strings(gold, pred, ...)`` helper gives one case per row, with the options the
test passes (match types, precision, strict, language) and its provenance (repo, path,
commit, test, line). Writes ``cases.json`` beside this script.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SOURCES = {
    "huggingface/Math-Verify": [
        "tests/test_all.py",
        "tests/test_boxed.py",
        "tests/test_numina_cases.py",
        "tests/test_open_thoughts.py",
        "tests/test_strict.py",
        "tests/test_yujianll.py",
    ],
    "huggingface/lighteval": ["tests/unit/metrics/test_extractive_match.py"],
}
HELPER = "compare_strings"


def git(mirror: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", mirror, *args], capture_output=True, text=True, check=True).stdout


def value(node: ast.AST):
    """A literal, or the dotted name of anything else (``Language.FRENCH``), marked as not literal."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return {"not_literal": ast.unparse(node)}


def helper_options(function: ast.FunctionDef, argnames: list[str]) -> dict | None:
    """The options the test passes to the helper: keywords and extra positionals (by parameter name)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == HELPER:
            options = {}
            for i, arg in enumerate(node.args[2:], start=2):
                options[f"arg{i}"] = arg.id if isinstance(arg, ast.Name) and arg.id in argnames else value(arg)
            for keyword in node.keywords:
                arg = keyword.value
                options[keyword.arg] = arg.id if isinstance(arg, ast.Name) and arg.id in argnames else value(arg)
            return options
    return None


def cases(repo: str, path: str, commit: str, source: str):
    tree = ast.parse(source)
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        options = helper_options(function, [a.arg for a in function.args.args])
        if options is None:
            continue
        for decorator in function.decorator_list:
            if not (isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("parametrize")):
                continue
            argnames = [a.strip() for a in ast.literal_eval(decorator.args[0]).split(",")]
            for row in decorator.args[1].elts:
                values = [value(e) for e in row.elts] if isinstance(row, ast.Tuple) else [value(row)]
                fields = dict(zip(argnames, values))
                case_options = {k: fields.get(v, v) if isinstance(v, str) else v for k, v in options.items()}
                yield {
                    "id": f"{repo.split('/')[1]}:{path.rsplit('/', 1)[1]}:{row.lineno}",
                    "repo": repo,
                    "path": path,
                    "commit": commit,
                    "test": function.name,
                    "line": row.lineno,
                    "gold": fields.get("gold"),
                    "pred": fields.get("pred"),
                    "expected": fields.get("expected"),
                    "options": {k: v for k, v in case_options.items() if k not in ("gold", "pred")},
                }


def main(mirrors: list[str]) -> None:
    out = []
    for mirror in mirrors:
        repo = next(r for r in SOURCES if r.split("/")[1].lower() in mirror.lower().replace("+", "/"))
        commit = git(mirror, "rev-parse", "HEAD").strip()
        for path in SOURCES[repo]:
            out.extend(cases(repo, path, commit, git(mirror, "show", f"{commit}:{path}")))
    seen: dict[str, int] = {}
    for case in out:  # two rows on one line: the second is "…:LINE#2"
        seen[case["id"]] = seen.get(case["id"], 0) + 1
        if seen[case["id"]] > 1:
            case["id"] += f"#{seen[case['id']]}"
    target = Path(__file__).with_name("cases.json")
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(out)} cases -> {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
