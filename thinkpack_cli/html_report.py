"""``tp report``: one self-contained HTML page from one or more runs, for people deciding on a checkpoint.

The numbers come from ``stats`` (the same rows, intervals and grading as ``tp stats``); a second, light pass
over each input records every sample's reasoning length and a few example records per status, joined to
its grade by (line, position in the record's list). The page holds inline SVG and CSS only: no script, no
request when it is opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

from . import svg
from .formats import STATUSES, TRUNCATED, VALID
from .parse import Parser, is_parsed

EXAMPLES = 3  # example records kept per run and status
EXCERPT = 600
BINS = 8
MAX_PROBLEMS = 2000


@dataclass
class Fact:
    """One sample, as the report needs it."""

    line: int
    index: int | None
    status: str
    reasoning_chars: int | None
    prompt: Any = None
    correct: bool | None = None


@dataclass
class Run:
    name: str
    facts: list[Fact] = field(default_factory=list)
    examples: dict[str, list[dict]] = field(default_factory=lambda: {s: [] for s in STATUSES})


class FactsJob:
    """Per block: each sample's line, position, status and reasoning length, and a few examples."""

    def __init__(self, parser: Parser, id_path: str | None):
        self.parser, self.id_path = parser, id_path

    def run(self, rows):
        from . import paths, streams
        from .errors import RecordError

        facts, examples, errors = [], [], []
        kept = dict.fromkeys(STATUSES, 0)
        for line, record, _ in rows:
            if not is_parsed(record):
                try:
                    self.parser.parse_record(record)
                except RecordError as e:
                    errors.append((line, str(e)))
                    continue
            several = isinstance(record.get("status"), list)
            columns = [record.get(k) for k in ("status", "reasoning", "answer")]
            count = len(columns[0]) if several else 1
            prompt = paths.get(record, self.id_path) if self.id_path else None
            for i in range(count):
                status, reasoning, answer = (c[i] if several and isinstance(c, list) else c for c in columns)
                facts.append(
                    Fact(
                        line,
                        i if several else None,
                        status,
                        None if reasoning is None else len(reasoning),
                        prompt if self.id_path else ("line", line),
                    )
                )
                if kept.get(status, EXAMPLES) < EXAMPLES:
                    kept[status] += 1
                    examples.append(
                        {
                            "line": line,
                            "index": i if several else None,
                            "status": status,
                            "reasoning": (reasoning or "")[:EXCERPT],
                            "answer": (answer or "")[:EXCERPT],
                        }
                    )
        return streams.BlockResult((facts, examples), errors, len(rows))


def collect(paths_: list[str], stats_options, parser: Parser, **run_options):
    """The stats report (headline rows with intervals, and each input's summary) and every run's samples, graded."""
    from . import stats, streams

    report = stats.run(paths_, stats_options, parser=parser, **run_options)  # the numbers tp stats gives
    columns, judged = report.columns, report.judged
    graded = {}
    for entry in stats.samples(columns, stats_options, judged):
        if entry.get("grade_status") != "no_gold":
            graded[(entry["input"], entry["line"], entry.get("sample"))] = entry
    runs = []
    job = FactsJob(parser, stats_options.id)
    for path, column in zip(paths_, columns):
        run = Run(column.name)

        def take(payload, first, run=run):
            facts, examples = payload
            for fact in facts:
                fact.line += first
                if fact.prompt == ("line", fact.line - first):
                    fact.prompt = ("line", fact.line)
                run.facts.append(fact)
            for example in examples:
                example["line"] += first
                if len(run.examples[example["status"]]) < EXAMPLES:
                    run.examples[example["status"]].append(example)

        streams.run_job([path], job, take, label=f"report {path}", with_line=True, **run_options)
        for fact in run.facts:
            entry = graded.get((run.name, fact.line, fact.index))
            fact.correct = None if entry is None else bool(entry["correct"])
        for examples in run.examples.values():
            for example in examples:
                entry = graded.get((run.name, example["line"], example["index"]))
                example["gold"] = None if entry is None else entry.get("gold")
                example["pred"] = None if entry is None else entry.get("pred")
                example["correct"] = None if entry is None else entry.get("correct")
        runs.append(run)
    return report, runs


# ---------------------------------------------------------------------------- page


def render(rows: list[dict], runs: list[Run], by: tuple[str, ...], title: str) -> str:
    sections = [
        _headline(rows, by),
        _accuracy_by_length(runs),
        _histograms(runs),
        _thinking(runs),
        _problems(runs),
        _examples(runs),
    ]
    return _PAGE.format(title=escape(title), inputs=escape(", ".join(r.name for r in runs)), body="\n".join(sections))


def _pct(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _headline(rows: list[dict], by: tuple[str, ...]) -> str:
    head = [*by, "input", "n", "valid", "truncated", "accuracy", "95% CI", "think p50", "Δ accuracy", "Δ 95% CI"]
    body = []
    for row in rows:
        delta = row.get("delta") or {}
        cells = [
            *(escape(str(row.get(b))) for b in by),
            escape(str(row.get("input", runs_name(row)))),
            f"{row.get('total', 0):,}",
            _pct(row.get("valid_rate")),
            _pct(row.get("truncated_rate")),
            _pct(row.get("accuracy")),
            _interval(row.get("accuracy.ci_low"), row.get("accuracy.ci_high")),
            "" if row.get("reasoning_chars_p50") is None else f"{row['reasoning_chars_p50']:,}",
            "" if delta.get("accuracy") is None else f"{delta['accuracy'] * 100:+.1f} pp",
            _interval(delta.get("accuracy.ci_low"), delta.get("accuracy.ci_high"), signed=True),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<section id="headline"><h2>Headline</h2><table><thead><tr>{"".join(f"<th>{escape(h)}</th>" for h in head)}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "<p class=note>Intervals: Wilson for one sample per prompt, else a bootstrap over prompts; Δ is paired "
        "over shared prompts when --id is given.</p></section>"
    )


def runs_name(row: dict) -> str:
    return row.get("input") or "all"


def _interval(low, high, signed=False) -> str:
    if low is None or high is None:
        return ""
    f = (lambda v: f"{v * 100:+.1f}") if signed else (lambda v: f"{v * 100:.1f}")
    return f"[{f(low)}, {f(high)}]"


def _edges(runs: list[Run]) -> list[int]:
    """Bin edges over every run's reasoning lengths (quantiles, so each bin holds data)."""
    lengths = sorted(f.reasoning_chars for r in runs for f in r.facts if f.reasoning_chars)
    if not lengths:
        return []
    edges = sorted({lengths[min(len(lengths) - 1, math.floor(q * len(lengths) / BINS))] for q in range(BINS)})
    return edges + [lengths[-1] + 1]


def _bin(edges: list[int], value: int) -> int:
    for i in range(len(edges) - 1):
        if value < edges[i + 1]:
            return i
    return len(edges) - 2


def _labels(edges: list[int]) -> list[str]:
    def short(n):
        return f"{n / 1000:.1f}k" if n >= 1000 else str(n)

    return [f"{short(edges[i])}–{short(edges[i + 1] - 1)}" for i in range(len(edges) - 1)]


def _accuracy_by_length(runs: list[Run]) -> str:
    edges = _edges(runs)
    if not edges or not any(f.correct is not None for r in runs for f in r.facts):
        return '<section id="length"><h2>Accuracy by reasoning length</h2><p>No graded samples with reasoning.</p></section>'
    series, counts = [], []
    for run in runs:
        right, total = [0] * (len(edges) - 1), [0] * (len(edges) - 1)
        for f in run.facts:
            if f.reasoning_chars and f.correct is not None:
                b = _bin(edges, f.reasoning_chars)
                total[b] += 1
                right[b] += f.correct
        series.append((run.name, [r / t if t else None for r, t in zip(right, total)]))
        counts.append((run.name, total))
    table = "".join(
        f"<tr><td>{escape(name)}</td>{''.join(f'<td>{n:,}</td>' for n in total)}</tr>" for name, total in counts
    )
    return (
        '<section id="length"><h2>Accuracy by reasoning length (characters)</h2>'
        + svg.line_chart("accuracy by reasoning length", _labels(edges), series)
        + f"<table><thead><tr><th>samples per bin</th>{''.join(f'<th>{escape(label)}</th>' for label in _labels(edges))}"
        f"</tr></thead><tbody>{table}</tbody></table></section>"
    )


def _histograms(runs: list[Run]) -> str:
    edges = _edges(runs)
    parts = ['<section id="histograms"><h2>Reasoning length per status</h2>']
    if not edges:
        return parts[0] + "<p>No sample has a reasoning block.</p></section>"
    for run in runs:
        series = []
        for status in (VALID, TRUNCATED):  # empty and missing samples have no length to show
            counts = [0] * (len(edges) - 1)
            for f in run.facts:
                if f.status == status and f.reasoning_chars:
                    counts[_bin(edges, f.reasoning_chars)] += 1
            series.append((status, counts))
        others = ", ".join(
            f"{s}: {sum(f.status == s for f in run.facts):,}" for s in STATUSES if s not in (VALID, TRUNCATED)
        )
        parts.append(
            f"<h3>{escape(run.name)}</h3>"
            + svg.bar_chart(f"reasoning length per status: {run.name}", _labels(edges), series)
            + f"<p class=note>No reasoning to measure: {others}.</p>"
        )
    return "".join(parts) + "</section>"


def _thinking(runs: list[Run]) -> str:
    head = ["input", "think rate", "accuracy when it thought", "n", "accuracy when it did not", "n"]
    body, bars = [], []
    for run in runs:
        thought = [f for f in run.facts if f.status in (VALID, TRUNCATED)]
        skipped = [f for f in run.facts if f.status not in (VALID, TRUNCATED)]

        def accuracy(facts):
            graded = [f.correct for f in facts if f.correct is not None]
            return sum(graded) / len(graded) if graded else None, len(graded)

        (a_on, n_on), (a_off, n_off) = accuracy(thought), accuracy(skipped)
        rate = len(thought) / len(run.facts) if run.facts else None
        body.append(
            f"<tr><td>{escape(run.name)}</td><td>{_pct(rate)}</td><td>{_pct(a_on)}</td><td>{n_on:,}</td>"
            f"<td>{_pct(a_off)}</td><td>{n_off:,}</td></tr>"
        )
        bars.append((run.name, [rate or 0, a_on or 0, a_off or 0]))
    chart = svg.bar_chart(
        "think rate and accuracy",
        ["think rate", "accuracy, thought", "accuracy, no thinking"],
        bars,
        y_format=lambda v: f"{v:.0%}",
        y_max=1.0,
    )
    return (
        '<section id="thinking"><h2>Thinking: how often, and does it pay</h2>'
        + chart
        + f"<table><thead><tr>{''.join(f'<th>{escape(h)}</th>' for h in head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table><p class=note>Thought: a reasoning block was opened (valid or "
        "truncated); not: empty or missing.</p></section>"
    )


def _problems(runs: list[Run]) -> str:
    table: dict[Any, list[tuple[int, int]]] = {}
    for r, run in enumerate(runs):
        for f in run.facts:
            if f.correct is None:
                continue
            cells = table.setdefault(_key(f.prompt), [(0, 0)] * len(runs))
            n, c = cells[r]
            cells[r] = (n + 1, c + f.correct)
    if not table:
        return '<section id="problems"><h2>Problems</h2><p>No graded samples.</p></section>'

    def score(cells):
        return [c / n if n else None for n, c in cells]

    def flips(cells):
        solved = [None if n == 0 else c * 2 > n for n, c in cells]
        return sum(1 for a, b in zip(solved, solved[1:]) if a is not None and b is not None and a != b)

    entries = []
    for prompt, cells in table.items():
        scores = [s for s in score(cells) if s is not None]
        entries.append((prompt, cells, sum(scores) / len(scores), flips(cells)))
    entries.sort(key=lambda e: (-e[3], e[2], str(e[0])))
    shown = entries[:MAX_PROBLEMS]
    flipped = sum(1 for e in entries if e[3])
    head = "".join(f"<th>{escape(r.name)}</th>" for r in runs)
    body = []
    for prompt, cells, difficulty, flip in shown:
        tds = "".join(f'<td class="{_shade(n, c)}">{c}/{n}</td>' if n else "<td></td>" for n, c in cells)
        body.append(
            f"<tr><td>{escape(str(prompt))}</td><td>{difficulty * 100:.0f}%</td><td>{'⇄' * flip}</td>{tds}</tr>"
        )
    note = (
        f"<p class=note>{len(entries):,} problems, {flipped:,} flipped between runs (solved by a majority of "
        f"samples in one run, not the next); flips first, then hardest.</p>"
    )
    if len(entries) > MAX_PROBLEMS:
        note += f"<p class=note>Showing {MAX_PROBLEMS:,} of {len(entries):,}.</p>"
    return (
        f'<section id="problems"><h2>Problems: which runs got which prompts right</h2>{note}<table><thead><tr>'
        f"<th>prompt</th><th>solved (all runs)</th><th>flips</th>{head}</tr></thead><tbody>{''.join(body)}"
        "</tbody></table></section>"
    )


def _key(prompt: Any) -> Any:
    if isinstance(prompt, tuple) and len(prompt) == 2 and prompt[0] == "line":
        return f"line {prompt[1]}"
    return prompt if isinstance(prompt, (str, int, float)) else str(prompt)


def _shade(n: int, c: int) -> str:
    return "right" if c == n else "wrong" if c == 0 else "some"


def _examples(runs: list[Run]) -> str:
    parts = ['<section id="examples"><h2>Example records</h2>']
    for r, run in enumerate(runs):
        links = " · ".join(
            f'<a href="#ex-{r}-{s}-0">{s} ({len(run.examples[s])})</a>' for s in STATUSES if run.examples[s]
        )
        parts.append(f"<h3>{escape(run.name)}</h3><p>{links}</p>")
        for status in STATUSES:
            for i, ex in enumerate(run.examples[status]):
                verdict = "" if ex.get("correct") is None else ("✓ correct" if ex["correct"] else "✗ wrong")
                where = f"line {ex['line']}" + ("" if ex["index"] is None else f", sample {ex['index']}")
                parts.append(
                    f'<article class="example" id="ex-{r}-{status}-{i}"><header><b>{status}</b> · {where} · {verdict}</header>'
                    f'<pre class="reasoning">{escape(ex["reasoning"])}</pre><pre class="answer">{escape(ex["answer"])}</pre>'
                    f"<p>gold: <code>{escape(str(ex.get('gold')))}</code> · extracted: <code>{escape(str(ex.get('pred')))}</code></p>"
                    "</article>"
                )
    return "".join(parts) + "</section>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
th, td {{ border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
td.right {{ background: #d8f0dc; }} td.wrong {{ background: #f6d5d5; }} td.some {{ background: #fbefc9; }}
.note {{ color: #666; font-size: 12px; }}
pre {{ white-space: pre-wrap; margin: .3rem 0; padding: .4rem; background: #f7f7f7; max-height: 14rem; overflow: auto; }}
pre.reasoning {{ color: #888; }}
article.example {{ border-left: 3px solid #0072B2; padding-left: .6rem; margin: .8rem 0; }}
nav a {{ margin-right: 1rem; }}
</style></head>
<body><h1>{title}</h1><p>Inputs: {inputs}</p>
<nav><a href="#headline">headline</a><a href="#length">accuracy by length</a><a href="#histograms">lengths</a>
<a href="#thinking">thinking</a><a href="#problems">problems</a><a href="#examples">examples</a></nav>
{body}
</body></html>
"""
