"""One path syntax for every option that names a field: ``--field``, ``--gold``, ``--by``, ``--id``.

    choices.0.message.content     names and list indices, dotted (negative indices count from the end)
    choices[0].message.content    the same, bracketed
    outputs[*].text               every element of a list: one value per element (n samples)
    resps[*][*]                   wildcards nest; the values come back as one flat list
    doc.choices[doc.gold_index]   an index (or key) read from another path of the same record
    ["a.b"].c                     a key holding dots or brackets, quoted
    _full_generation|generation   alternatives: the first that the record has

A path without a wildcard gives one value; with one, a list (one entry per match, in order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import UsageError

WILDCARD = "*"
_TOKEN = re.compile(
    r"""\s*(?:\[\s*(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\]|\[(?P<bracket>[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]|(?P<dot>\.)|(?P<name>[^.\[\]|]+))"""
)


class Missing(LookupError):
    """The record has nothing at this path."""


@dataclass(frozen=True)
class Ref:
    """An index or key taken from another path of the same record."""

    path: Path


@dataclass(frozen=True)
class Path:
    text: str
    alternatives: tuple[tuple, ...]  # each a tuple of steps: str key, int index, WILDCARD, or Ref

    @property
    def wildcard(self) -> bool:
        return any(step == WILDCARD for steps in self.alternatives for step in steps)

    @property
    def simple(self) -> str | None:
        """The field name, when the path is just one top-level name."""
        if len(self.alternatives) == 1 and len(self.alternatives[0]) == 1 and isinstance(self.alternatives[0][0], str):
            return None if self.alternatives[0][0] == WILDCARD else self.alternatives[0][0]
        return None

    def matches(self, record: Any) -> list[tuple[Any, list]]:
        """Every (value, parents) this path reaches in ``record``; parents run from the record down."""
        if isinstance(record, dict) and self.text in record:  # a field whose own name holds dots
            return [(record[self.text], [record])]
        for steps in self.alternatives:
            found = _walk(record, record, steps, [])
            if found is not None:
                return found
        raise Missing(self.text)

    def get(self, record: Any, default: Any = Missing) -> Any:
        """The value (a list of values for a wildcard path); ``default`` (or ``Missing``) when there is none."""
        try:
            found = self.matches(record)
        except Missing:
            if default is Missing:
                raise
            return default
        if self.wildcard:
            return [value for value, _ in found]
        return found[0][0]


def _walk(root: Any, node: Any, steps: tuple, parents: list) -> list[tuple[Any, list]] | None:
    if not steps:
        return [(node, parents)]
    step, rest = steps[0], steps[1:]
    if step == WILDCARD:
        if not isinstance(node, list):
            return None
        out = []
        for item in node:
            found = _walk(root, item, rest, [*parents, node])
            if found is not None:  # an element without the rest of the path contributes nothing
                out.extend(found)
        return out
    if isinstance(step, Ref):
        key = step.path.get(root, None)
        if isinstance(key, list):  # several indices (lighteval's gold_index can be a list): every one
            out = []
            for k in key:
                found = _step(node, k)
                if found is not _NONE:
                    out.extend(_walk(root, found, rest, [*parents, node]) or [])
            return out or None
        step = key
    child = _step(node, step)
    if child is _NONE:
        return None
    return _walk(root, child, rest, [*parents, node])


_NONE = object()


def _step(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        if key in node:
            return node[key]
        if isinstance(key, int) and str(key) in node:
            return node[str(key)]
        return _NONE
    if isinstance(node, list):
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, int) and not isinstance(key, bool) and -len(node) <= key < len(node):
            return node[key]
    return _NONE


@lru_cache(maxsize=256)
def compile(text: str) -> Path:
    """The parsed path, or a usage error naming what cannot be read."""
    if not text or not text.strip():
        raise UsageError("a field path cannot be empty")
    return Path(text, tuple(_steps(part.strip(), text) for part in _split_alternatives(text)))


def _split_alternatives(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'" and depth:
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _steps(part: str, whole: str) -> tuple:
    steps: list = []
    pos = 0
    while pos < len(part):
        m = _TOKEN.match(part, pos)
        if m is None or m.end() == pos:
            raise UsageError(f"cannot read the field path {whole!r} at {part[pos:]!r}")
        pos = m.end()
        if m["dot"]:
            continue
        if m["quoted"] is not None:
            steps.append(m["quoted"][1:-1].encode().decode("unicode_escape"))
        elif m["bracket"] is not None:
            inner = m["bracket"].strip()
            if inner == WILDCARD:
                steps.append(WILDCARD)
            elif inner.lstrip("-").isdigit():
                steps.append(int(inner))
            elif inner:
                steps.append(Ref(compile(inner)))
            else:
                raise UsageError(f"cannot read the field path {whole!r}: empty brackets")
        else:
            name = m["name"].strip()
            steps.append(WILDCARD if name == WILDCARD else name)
    if not steps:
        raise UsageError(f"cannot read the field path {whole!r}")
    return tuple(steps)


def get(record: Any, text: str, default: Any = None) -> Any:
    """``record``'s value at path ``text`` (``default`` when it has none)."""
    return compile(text).get(record, default)


__all__ = ["Missing", "Path", "compile", "get"]
