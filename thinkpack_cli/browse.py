"""``tp head`` and ``tp sample``: look at records the way people do with jq and less, but readably.

Each sample (an element of a list field counts as one) is shown with where it came from, its status, the
reasoning (dimmed, cut to a length), the answer, the gold and the verdict. Filters: ``--status``, ``--wrong``
(graded, so it needs a gold), and ``--where`` with a small, safe expression language::

    model == "qwen3" and meta.step >= 1000
    not (benchmark in ["aime24", "aime25"]) or reasoning_tokens > 8000

Names are field paths (``paths``); values are JSON-like literals. Nothing else is evaluated.
"""

from __future__ import annotations

import ast
import operator
import random
from dataclasses import dataclass
from typing import Any, Iterator

from . import paths
from .errors import RecordError, UsageError
from .fields import GOLD_FIELDS
from .parse import Parser, is_parsed

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


@dataclass
class Shown:
    """One sample to show."""

    source: str
    line: int
    index: int | None
    record: dict
    status: str
    reasoning: str | None
    answer: str
    gold: Any
    verdict: Any = None  # grading.Verdict, when graded


class Where:
    """A compiled ``--where`` expression."""

    def __init__(self, text: str):
        self.text = text
        try:
            self.tree = ast.parse(text, mode="eval").body
        except SyntaxError as e:
            raise UsageError(f"--where {text!r}: cannot read it ({e.msg})") from None
        self._check(self.tree)

    def _check(self, node) -> None:
        if isinstance(node, ast.BoolOp | ast.Compare | ast.UnaryOp):
            if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not | ast.USub):
                raise UsageError(f"--where {self.text!r}: only 'not' and '-' apply to one value")
            if isinstance(node, ast.Compare) and not all(type(op) in _COMPARE for op in node.ops):
                raise UsageError(f"--where {self.text!r}: compare with == != < <= > >= in, not in")
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.boolop | ast.cmpop | ast.unaryop):
                    self._check(child)
        elif isinstance(node, ast.List | ast.Tuple):
            for child in node.elts:
                self._check(child)
        elif not isinstance(node, ast.Constant | ast.Name | ast.Attribute | ast.Subscript):
            raise UsageError(f"--where {self.text!r}: {ast.unparse(node)!r} is not a field, a value or a comparison")

    def __call__(self, record: dict) -> bool:
        return bool(self._eval(self.tree, record))

    def _eval(self, node, record):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(e, record) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            values = (self._eval(v, record) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, record)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, record)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, record)
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError:  # a missing field (None) or another type: the comparison does not hold
                    return False
                left = right
            return True
        if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[node.id]
        return paths.get(record, ast.unparse(node))


def samples(
    source: str,
    records: Iterator[tuple[int, dict]],
    parser: Parser,
    gold_path: str | None,
    status: str | None,
    where: Where | None,
) -> Iterator[Shown]:
    """Every sample of ``records`` that passes the status and --where filters (grading comes later)."""
    for line, record in records:
        if where is not None and not where(record):
            continue
        if not is_parsed(record):
            try:
                parser.parse_record(record)
            except RecordError as e:
                raise RecordError(f"{source}:{line}: {e}") from None
        gold = _gold(record, gold_path)
        several = isinstance(record.get("status"), list)
        count = len(record["status"]) if several else 1
        for i in range(count):

            def nth(value, i=i, several=several):
                return value[i] if several and isinstance(value, list) else value

            shown = Shown(
                source,
                line,
                i if several else None,
                record,
                nth(record["status"]),
                nth(record.get("reasoning")),
                nth(record.get("answer")) or "",
                gold,
            )
            if status is None or shown.status == status:
                yield shown


def _gold(record: dict, path: str | None) -> Any:
    for name in (path,) if path else GOLD_FIELDS:
        value = paths.get(record, name)
        if value is not None and value != "":
            return value
    return None


def read(path: str, input_format: str | None = None) -> Iterator[tuple[int, dict]]:
    """(line, record) of one input, in order, read lazily (``tp head`` stops early)."""
    from . import streams
    from .errors import InputError

    first = 1
    for block in streams.Source(path, input_format).blocks():
        rows, errors, lines = streams.decode_block(block)
        if errors:
            offset, reason = errors[0]
            raise InputError(block.source, first + offset, reason)
        for offset, record, _ in rows:
            yield first + offset, record
        first += lines


def pick(candidates: Iterator[Shown], n: int, grader, wrong: bool, seed: int | None) -> list[Shown]:
    """The first ``n`` (or, with a seed, a uniform sample of ``n``) candidates, graded; with ``wrong``,
    only graded samples that are wrong. Grading goes in batches, so ``head`` stops soon after ``n``."""
    rng = None if seed is None else random.Random(seed)
    kept: list[Shown] = []
    seen = 0
    batch: list[Shown] = []

    def settle(batch):
        nonlocal seen
        if grader is not None:
            graded = [s for s in batch if s.gold is not None]
            for s, verdict in zip(
                graded, grader.verdicts([(None if s.status == "truncated" else s.answer, s.gold) for s in graded])
            ):
                s.verdict = verdict
        for s in batch:
            if wrong and (s.verdict is None or s.verdict.correct):
                continue
            seen += 1
            if rng is None:
                if len(kept) < n:
                    kept.append(s)
            elif len(kept) < n:
                kept.append(s)
            else:  # reservoir sampling (Algorithm R): each candidate kept with probability n / seen
                j = rng.randrange(seen)
                if j < n:
                    kept[j] = s

    for s in candidates:
        batch.append(s)
        if len(batch) >= 64:
            settle(batch)
            batch = []
            if rng is None and len(kept) >= n:
                return kept
    settle(batch)
    return kept


def render(shown: Shown, limit: int):
    """A rich ``Text`` for one sample: a header, the reasoning dimmed, the answer, gold and verdict."""
    from rich.text import Text

    text = Text()
    where = f"{shown.source}:{shown.line}" + ("" if shown.index is None else f" · sample {shown.index}")
    verdict = ""
    if shown.verdict is not None:
        why = "" if shown.verdict.status == "graded" else f" ({shown.verdict.status})"  # timeout, no_answer, …
        verdict = " · ✓ correct" if shown.verdict.correct else f" · ✗ wrong{why}"
    text.append(f"── {where} · {shown.status}{verdict}\n", style="bold")
    if shown.reasoning is not None:
        cut = shown.reasoning if limit <= 0 or len(shown.reasoning) <= limit else shown.reasoning[:limit] + " …"
        text.append(f"reasoning ({len(shown.reasoning):,} chars):\n", style="bold dim")
        text.append(cut + "\n", style="dim")
    text.append("answer: ", style="bold")
    text.append((shown.answer if limit <= 0 or len(shown.answer) <= limit else shown.answer[:limit] + " …") + "\n")
    if shown.gold is not None:
        text.append("gold: ", style="bold")
        text.append(str(shown.gold))
        if shown.verdict is not None and shown.verdict.pred is not None:
            text.append("  extracted: ", style="bold")
            text.append(str(shown.verdict.pred))
        text.append("\n")
    return text
