"""Assistant texts rendered as markers: ``Template.render`` gives the template a unique marker in
place of each assistant text (and before each tool result), so where every text landed is read
from the render, whatever glue the template put around it; the real texts are spliced in after.

A marker is private-use characters around a per-process nonce, which no template trims and no
text holds.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .errors import RecordError

_NONCE = uuid.uuid4().hex[:8]
_MARKER = re.compile(f"\ue000{_NONCE}(?P<kind>[art])(?P<index>\\d+)\ue001")


def mark(kind: str, i: int) -> str:
    """The marker of message ``i``'s answer (``a``), reasoning (``r``) or tool result (``t``)."""
    return f"\ue000{_NONCE}{kind}{i}\ue001"


def find(marked: str, name: str) -> dict[tuple[str, int], re.Match]:
    found = {}
    for m in _MARKER.finditer(marked):
        key = (m["kind"], int(m["index"]))
        if key in found:
            raise RecordError(f"the chat template of {name} renders message {key[1]} twice")
        found[key] = m
    return found


def splice(marked: str, found: dict, texts: dict[str, str]):
    """The real text, and where each marked text ended up in it."""
    pieces, spans, pos, shift = [], {}, 0, 0
    for key, m in sorted(found.items(), key=lambda item: item[1].start()):
        real = texts[m.group(0)]
        pieces += (marked[pos : m.start()], real)
        start = m.start() + shift
        spans[key] = (start, start + len(real))
        shift += len(real) - (m.end() - m.start())
        pos = m.end()
    pieces.append(marked[pos:])
    return "".join(pieces), spans


def check_same(real: str, spliced: str, name: str) -> None:
    if real != spliced:
        at = next((k for k, (x, y) in enumerate(zip(real, spliced)) if x != y), min(len(real), len(spliced)))
        raise RecordError(
            f"the chat template of {name} rewrites this record's assistant text (at character "
            f"{at}: {real[at : at + 30]!r}), so tp cannot tell where its spans are"
        )


def unmark(value: Any, texts: dict[str, str]) -> Any:
    if not isinstance(value, str) or "\ue000" not in value:
        return value
    return _MARKER.sub(lambda m: texts.get(m.group(0), ""), value)


def unmark_message(message: dict, texts: dict[str, str]) -> dict:
    return {k: unmark(v, texts) for k, v in message.items()}
