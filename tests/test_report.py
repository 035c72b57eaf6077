"""``tp report``: one self-contained HTML page, checked as text and rendered in a real headless Chromium
(skipped, saying why, where no browser is installed: ``apt-get install chromium``)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import subprocess
import zlib

import pytest
from typer.testing import CliRunner

from thinkpack_cli.cli import app

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def tp(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_runs(folder):
    """Two runs over 6 prompts × 2 samples. p0 flips (right in base, wrong in cand); p5 is wrong in both."""

    def run(name, right, truncated=()):
        lines = []
        for p in range(6):
            for k in range(2):
                reasoning = "r" * (50 + 400 * p + k)
                answer = f"\\boxed{{{p if p in right else p + 1}}}"
                text = f"<think>{reasoning}" if (p, k) in truncated else f"<think>{reasoning}</think>{answer}"
                lines.append({"problem": f"p{p}", "response": text, "gold": str(p)})
        if name == "cand":
            lines.append({"problem": "p1", "response": "\\boxed{1}", "gold": "1"})  # answered without thinking
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in lines))
        return path

    return run("base", {0, 1, 2, 3}, truncated={(4, 0)}), run("cand", {1, 2, 3})


def test_report_is_one_self_contained_page_with_every_section(tmp_path):
    base, cand = write_runs(tmp_path)
    out = tmp_path / "report.html"
    result = tp("report", base, cand, "--id", "problem", "--grader", "exact", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing to fetch
    for anchor in ("headline", "length", "histograms", "thinking", "problems", "examples"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") >= 4  # accuracy by length, a histogram per run, thinking

    stats = json.loads(tp("stats", base, cand, "--id", "problem", "--grader", "exact", "--json", "-q").stdout)
    for row in stats:  # the headline shows the same numbers as tp stats
        assert f"{row['accuracy'] * 100:.1f}%" in page
        assert f"[{row['accuracy.ci_low'] * 100:.1f}, {row['accuracy.ci_high'] * 100:.1f}]" in page
    problems = page.split('id="problems"')[1].split("</section>")[0]
    first_row = re.search(r"<tbody><tr><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td>", problems)
    assert first_row.groups() == ("p0", "⇄")  # the flip comes first
    assert "1 flipped between runs" in problems
    # every status that occurs has an example anchor, and the base run's truncated one is linked
    assert 'href="#ex-0-truncated-0"' in page and 'id="ex-0-truncated-0"' in page
    thinking = page.split('id="thinking"')[1].split("</section>")[0]
    assert "cand.jsonl</td><td>92.3%</td>" in thinking  # 12 of 13 samples thought


def test_report_refuses_stdin():
    result = tp("report", "-")
    assert result.exit_code == 2 and "reads files" in result.output


def _browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium found (apt-get install chromium): the browser check needs a real one")


def _png_pixels(data: bytes):
    """Width, height and rows of RGB(A) pixels of a PNG (8-bit, as Chromium writes screenshots)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    bpp = 4 if colour == 6 else 3
    raw, stride, rows, prev = zlib.decompress(b"".join(chunks)), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_report_renders_in_a_real_browser_without_console_errors(tmp_path):
    browser = _browser()
    base, cand = write_runs(tmp_path)
    out = tmp_path / "report.html"
    assert tp("report", base, cand, "--id", "problem", "--grader", "exact", "-o", out, "-q").exit_code == 0
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1000,1400",
    ]
    dom = subprocess.run([browser, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Chromium logs every console message (errors, failed loads reported to the page) as INFO:CONSOLE.
    assert not [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert dom.stdout.count("<svg") >= 4 and "<polyline" in dom.stdout and "<rect" in dom.stdout

    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", out.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    width, height, bpp, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    # The first run's colour (#0072B2) is drawn: the charts are on screen, not just in the DOM.
    blue = sum(row[i : i + 3] == b"\x00\x72\xb2" for row in rows for i in range(0, len(row), bpp))
    assert blue > 500


# ---------------------------------------------------------------------------- tables: paper layout, step summary, manners


def paper_runs(folder):
    """Two models × two benchmarks; known accuracies and reasoning lengths."""
    lines = []
    for model, right in (("m-base", {"aime": 2, "math": 1}), ("m-new", {"aime": 1, "math": 2})):
        for bench in ("aime", "math"):
            for i in range(2):
                ok = i < right[bench]
                lines.append(
                    {
                        "model": model,
                        "benchmark": bench,
                        "response": "<think>" + "r" * (100 if ok else 300) + f"</think>\\boxed{{{1 if ok else 0}}}",
                        "gold": "1",
                    }
                )
    path = folder / "paper.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_paper_layout_in_every_format(tmp_path):
    path = paper_runs(tmp_path)
    args = ("stats", path, "--by", "benchmark,model", "--grader", "exact", "--layout", "paper", "-q")
    plain = tp(*args)
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split()[-3:] == ["aime", "math", "average"]
    # m-base: aime 100% (length 100), math 50% (mean of 100 and 300 = 200); average 75% (150)
    assert lines[1].split("  ")[0] == "m-base" and lines[1].split()[1:] == [
        "100.0",
        "(100)",
        "50.0",
        "(200)",
        "75.0",
        "(150)",
    ]
    md = tp(*args, "--markdown").stdout
    assert "| m-new | 50.0 (200) | 100.0 (100) | 75.0 (150) |" in md
    rows = list(csv.DictReader(io.StringIO(tp(*args, "--csv").stdout)))
    assert rows[0]["model"] == "m-base" and float(rows[0]["average.accuracy"]) == 0.75
    assert float(rows[1]["math.length_chars"]) == 100
    assert tp("stats", path, "--by", "model", "--layout", "paper", "--grader", "exact").exit_code == 2


def test_markdown_is_a_step_summary_block_with_the_gates(tmp_path):
    base, cand = write_runs(tmp_path)
    result = tp(
        "stats",
        base,
        cand,
        "--id",
        "problem",
        "--grader",
        "exact",
        "--markdown",
        "-q",
        "--fail-if",
        "delta.accuracy.ci_high < 0",
        "--fail-if",
        "valid_rate < 0.5",
    )
    md = result.stdout
    assert md.startswith(f"### tp stats: `{base}`, `{cand}`\n\n|") and md.endswith("|\n\n")
    assert "| `valid_rate < 0.5` | input=" in md and "✅ passed" in md
    assert md.count("`delta.accuracy.ci_high < 0`") == 1  # only the second input has a delta
    # Two appended blocks stay two tables: a heading and a blank line separate them.
    assert (md + md).count("\n\n### tp stats") == 1


def test_off_a_terminal_tables_are_plain_aligned_text_or_tsv(tmp_path):
    path = paper_runs(tmp_path)
    plain = tp("stats", path, "--by", "benchmark,model", "--grader", "exact", "-q").stdout
    assert not set("─│┃━┏┡") & set(plain) and max(map(len, plain.splitlines())) < 200
    widths = {len(line) for line in plain.splitlines()}
    assert len(widths) <= 2  # aligned columns (only trailing label space is trimmed)
    tsv = tp("stats", path, "--by", "benchmark,model", "--grader", "exact", "--tsv", "-q").stdout
    header, *body = [line.split("\t") for line in tsv.splitlines()]
    assert header[:3] == ["benchmark", "model", "n"] and len(body) == 4 and all(len(r) == len(header) for r in body)


def test_at_80_columns_numbers_are_never_cut():
    from rich.console import Console

    from thinkpack_cli import tables

    header = [
        "a rather long group label",
        "another label",
        "n",
        "valid",
        "think p50",
        "think p90",
        "accuracy",
        "rpass@1",
        "answer p50",
        "pass@16",
    ]
    body = [
        [
            "model-" + "x" * 60,
            "benchmark-" + "y" * 30,
            "12,345",
            "99.9%",
            "123,456",
            "234,567",
            "64.25%",
            "70.1%",
            "1,234",
            "88.8% +1.2",
        ]
    ]
    console = Console(width=80, record=True, force_terminal=True, color_system=None)
    parts = tables.rich_tables(header, body, label_columns=2, width=80)
    assert len(parts) == 2  # too many numbers for one table at 80 columns: two, each with the labels
    for table in parts:
        console.print(table)
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for number in body[0][2:]:
        assert number in text, (number, text)
    wide = Console(width=200, record=True, force_terminal=True, color_system=None)
    [table] = tables.rich_tables(header, body, label_columns=2, width=200)
    wide.print(table)
    assert "model-" + "x" * 60 in wide.export_text()  # with room, the label is whole on one line


def test_shell_completion_installs_and_completes(tmp_path):
    import os
    import sys

    # typer finds the shell by walking up the process tree unless told not to: then the flag takes the shell's
    # name, so the test does not depend on what started pytest.
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "SHELL": "/bin/bash",
        "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1",
    }
    installed = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "--install-completion", "bash"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / ".bash_completions" / "tp.sh").exists()
    completed = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "_TP_COMPLETE": "complete_bash", "COMP_WORDS": "tp rep", "COMP_CWORD": "1"},
    )
    assert "report" in completed.stdout.split()


def test_option_help_shows_the_choices():
    import os
    import sys

    help_text = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "stats", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    ).stdout
    assert "<lm-eval|lighteval|openai-batch|vllm|nemo-skills>" in help_text
    assert "<fail|skip>" in help_text and "<rows|paper>" in help_text
