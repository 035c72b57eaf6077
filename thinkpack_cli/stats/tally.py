"""Per-sample facts folded into tallies: what workers compute for each block of records.

``StatsJob`` parses a block (raw outputs on the fly, parsed ones as they are) and folds its
samples into one ``Tally`` per group; the main process merges the tallies of every block.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import paths
from ..errors import RecordError
from ..fields import GOLD_FIELDS
from ..formats import STATUSES, TRUNCATED
from ..parse import Parser, is_parsed
from ..streams import BlockResult
from .options import FAILED, LENGTHS, NO_GRADING, StatsOptions


class Sample(NamedTuple):
    """One sample as graded: its prompt key, the answer text to grade (None: nothing to grade), the gold,
    its parse status, and where it came from (line in its input, position in the record's list, id)."""

    prompt: Any
    answer: str | None
    gold: Any
    status: str
    line: int
    index: int | None
    id: Any


@dataclass
class Tally:
    """Everything one group needs for its metrics; two tallies merge by addition."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    failed: int = 0
    answered: int = 0
    # Each length's histogram (length: how many samples have it): its percentiles are exact, and its
    # size is bounded by the distinct lengths, so memory stays flat however long the input
    lengths: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in LENGTHS})
    # Each sample with a gold answer, in input order (``ungraded``: the others, kept only for --samples)
    graded: list[Sample] = field(default_factory=list)
    ungraded: list[Sample] = field(default_factory=list)
    # How many records have each field asked for (--gold, --by), to refuse a field no record has
    seen: dict[str, int] = field(default_factory=dict)

    def add(self, status, reasoning, answer, reasoning_tokens, answer_tokens) -> None:
        if status == FAILED:
            self.failed += 1
            return
        self.counts[status] += 1
        if reasoning is not None:
            self.lengths["reasoning_chars"][len(reasoning)] += 1
            if reasoning_tokens is not None:
                self.lengths["reasoning_tokens"][reasoning_tokens] += 1
        if answer:
            self.answered += 1
            self.lengths["answer_chars"][len(answer)] += 1
            if answer_tokens is not None:
                self.lengths["answer_tokens"][answer_tokens] += 1

    def merge(self, other: Tally) -> None:
        for status, n in other.counts.items():
            self.counts[status] += n
        self.failed += other.failed
        self.answered += other.answered
        for name, histogram in other.lengths.items():
            self.lengths[name].update(histogram)
        self.graded.extend(other.graded)
        self.ungraded.extend(other.ungraded)
        for name, n in other.seen.items():
            self.seen[name] = self.seen.get(name, 0) + n

    def at_line(self, first: int) -> None:
        """Line offsets in a block become lines of the input, the block starting at line ``first``:
        without --id, each line is one prompt, wherever its block starts."""

        def moved(sample: Sample) -> Sample:
            prompt = ("line", sample.prompt[1] + first) if sample.prompt[0] == "line" else sample.prompt
            return sample._replace(prompt=prompt, line=sample.line + first)

        self.graded = [moved(s) for s in self.graded]
        self.ungraded = [moved(s) for s in self.ungraded]

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.failed

    @property
    def tokens(self) -> bool:
        return bool(self.lengths["reasoning_tokens"] or self.lengths["answer_tokens"])


class Groups(dict):
    """A column's tallies by group key. Keys keep each value's type, so ``1``, ``True`` and
    ``1.0`` are three groups; ``get`` also takes the plain values a report row shows."""

    def get(self, key, default=None):
        return super().get(key if key in self else group_key(key), default)


def group_key(values: tuple) -> tuple:
    """The key of the group whose fields hold ``values`` (as ``rows`` shows them)."""
    return tuple(None if v is None else (type(v).__name__, v) for v in values)


class StatsJob:
    """Folds a block of records into one ``Tally`` per group (runs in workers)."""

    def __init__(self, options: StatsOptions, parser: Parser):
        self.options = options
        self.parser = parser
        self.asked = tuple(dict.fromkeys((*options.by, *(f for f in (options.gold, options.id) if f))))

    def run(self, rows: list[tuple[int, dict]]):
        tallies: dict[tuple, Tally] = {}
        errors: list[tuple[int, str]] = []
        parsed_rows = []
        for line, record, _ in rows:
            failed: tuple[int, ...] = ()
            if not is_parsed(record):
                try:
                    failed = self._parse(record)
                except RecordError as e:
                    errors.append((line, str(e)))
                    continue
            parsed_rows.append((line, record, failed))
        if self.parser.tokenizer is not None:
            self.parser.count_tokens([r for _, r, _ in parsed_rows if "reasoning_tokens" not in r])
        for line, record, failed in parsed_rows:
            key = tuple(_group_value(record, name) for name in self.options.by)
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = Tally()
            for name in self.asked:
                if _lookup(record, name) is not None:
                    tally.seen[name] = tally.seen.get(name, 0) + 1
            self._add(tally, line, record, failed)
        return BlockResult(tallies, errors, len(parsed_rows))

    def _parse(self, record: dict) -> tuple[int, ...]:
        """Parses ``record``; returns the positions of its samples whose output is null (a failed
        request), parsed as empty outputs and then counted as failed."""
        try:
            self.parser.parse_record(record)
            return ()
        except RecordError as error:
            try:
                name, parents, text = self.parser._text(record)
            except RecordError:
                raise error from None
            parent, key = parents[-1], name.rsplit(".", 1)[-1]
            if not isinstance(parent, dict) or parent.get(key) is not text:
                raise
            if text is None:
                parent[key] = ""
                failed: tuple[int, ...] = (0,)
            elif isinstance(text, list) and None in text:
                parent[key] = ["" if t is None else t for t in text]
                failed = tuple(i for i, t in enumerate(text) if t is None)
            else:
                raise
            self.parser.parse_record(record)
            parent[key] = text
            return failed

    def _add(self, tally: Tally, line: int, record: dict, failed: tuple[int, ...]) -> None:
        samples = _samples(record)
        gold = self._gold(record)
        record_id = _hashable(_lookup(record, self.options.id)) if self.options.id else None
        # A record without the id is a prompt of its own, not one with every other such record.
        prompt = ("id", record_id) if record_id is not None else ("line", line)
        several = isinstance(record.get("status"), list)
        for i, (status, reasoning, answer, reasoning_tokens, answer_tokens) in enumerate(samples):
            if i in failed:
                status = FAILED
            tally.add(status, reasoning, answer, reasoning_tokens, answer_tokens)
            # A truncated sample is wrong whatever its text says; a failed one has no text.
            text = None if status in (TRUNCATED, FAILED) else answer
            sample = Sample(prompt, text, gold, status, line, i if several else None, record_id)
            if gold is not None:
                tally.graded.append(sample)
            elif self.options.samples:
                tally.ungraded.append(sample)

    def _gold(self, record: dict) -> Any:
        if self.options.grader == NO_GRADING:
            return None
        for name in (self.options.gold,) if self.options.gold else GOLD_FIELDS:
            value = _lookup(record, name)
            if value is not None and value != "" and value != []:
                return value
        if self.options.gold_table is not None:
            return self.options.gold_table.get(_hashable(_lookup(record, self.options.id)))
        return None


def _samples(record: dict) -> list[tuple]:
    columns = [record.get(k) for k in ("status", "reasoning", "answer", "reasoning_tokens", "answer_tokens")]
    if isinstance(columns[0], list):
        return [tuple(c[i] if isinstance(c, list) else None for c in columns) for i in range(len(columns[0]))]
    return [tuple(columns)]


def _lookup(record: dict, path: str) -> Any:
    """The value at a field name or path (``meta.model``, ``choices.0.text``, ``outputs[*].text``; see
    ``paths``), or None."""
    return paths.get(record, path)


def _group_value(record: dict, dotted: str) -> Any:
    value = _hashable(_lookup(record, dotted))
    return None if value is None else (type(value).__name__, value)


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value
