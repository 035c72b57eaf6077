"""Token-level loss labels that keep reasoning in context and out of the loss: ``tp mask``.

``Masker(template, options)(records)`` is a pure batch function: each record becomes
``input_ids``, ``labels`` (``ignore_index`` where masked), ``attention_mask``, its ``id`` and an
audit of how many tokens are prompt, think and answer and how many are trained; or a
``RecordError``; or None when ``--overflow drop`` leaves it out.

A batch is rendered (one template call per record), tokenized in one batched call of the
Rust tokenizer, and labelled from character offsets: each token's label comes from the
character spans the render produced, so boundaries come from one tokenization of the text
the model trains on. The rule for a token that straddles a boundary (a merged ``>\\n\\n``, or
one character split over several byte tokens): **a token is trained only if every character
it covers is trained**, so no masked character ever reaches the loss; the straddling token
counts where it starts in the prompt / think / answer audit. Every reasoning block in the text
is think, history turns' included; what the generation prompt already holds of a block (an
opened ``<think>\n``) trains only when neither prompt nor think is masked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import streams
from .errors import RecordError, UsageError
from .records import Fields, conversation, tools
from .template import Rendered, Template

PARTS = ("prompt", "think", "answer")
OVERFLOW = ("truncate", "drop")
COUNT_COLUMNS = ("prompt_tokens", "think_tokens", "answer_tokens", "trained_tokens")
COLUMNS = ("id", "input_ids", "labels", "attention_mask", *COUNT_COLUMNS, "truncated")


@dataclass(frozen=True)
class MaskOptions:
    mask: frozenset[str] = frozenset({"prompt", "think"})
    train_all: bool = False  # every assistant turn, not only the last
    max_length: int | None = None
    overflow: str = "truncate"
    empty_think: bool = True  # trained turns without reasoning get an empty block when think is masked
    ignore_index: int = -100
    fields: Fields = Fields()
    id_field: str = "id"
    keep_fields: bool = False  # copy the input's other fields into the output


def parse_mask(text: str) -> frozenset[str]:
    """``think,prompt`` → the parts to mask; ``none`` masks nothing; ``response`` is ``answer``."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if names == ["none"]:
        return frozenset()
    parts = frozenset("answer" if name == "response" else name for name in names)
    unknown = sorted(parts - set(PARTS))
    if unknown or not parts:
        raise UsageError(f"--mask takes prompt, think, answer (or response), comma-separated, or none; got {text!r}")
    if parts == set(PARTS):
        raise UsageError("--mask prompt,think,answer leaves nothing to train")
    return parts


class Masker:
    """Masks records for one template and one set of options."""

    def __init__(self, template: Template, options: MaskOptions = MaskOptions()):
        if options.overflow not in OVERFLOW:
            raise UsageError(f"--overflow must be one of {', '.join(OVERFLOW)}")
        if options.max_length is not None and options.max_length < 1:
            raise UsageError("--max-length must be at least 1")
        backend = getattr(template.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise UsageError("tp mask needs a fast tokenizer (a folder with tokenizer.json)")
        self.template, self.options, self._backend = template, options, backend
        self._fmt = template.format
        self._empty_think = options.empty_think and "think" in options.mask  # an empty block is masked think

    def __call__(self, records: list[dict]) -> list[dict | RecordError | None]:
        return self.batch(records)[0]

    def batch(self, records: list[dict], show: int = 0) -> tuple[list[dict | RecordError | None], Counter, list]:
        """The masked records, a tally of what happened to them for the summary, and the token
        views of the first ``show`` of them (``explain``), from the same render and tokenization."""
        tally: Counter = Counter()
        rendered: list[Rendered | RecordError] = []
        verified = False
        for record in records:
            try:
                messages = conversation(record, self.options.fields)
                # Check the template against real texts once a batch, on a record whose texts hold no
                # delimiter: the template acts on markers, never on a delimiter an answer quotes.
                verify = not verified and not self._suspicious(messages)
                listed = tools(record)
                rendered.append(
                    self.template.render(messages, listed, self.options.train_all, self._empty_think, verify)
                )
                verified = verified or verify
                tally["inline_text"] += self.template.style == "text" and any(m.reasoning is not None for m in messages)
                tally["tools_unlisted"] += bool(listed) and not self.template.lists_tools
            except RecordError as e:
                rendered.append(e)
        good = [r for r in rendered if isinstance(r, Rendered)]
        encodings = (
            iter(self._backend.encode_batch([r.text for r in good], add_special_tokens=False)) if good else iter(())
        )
        out: list[dict | RecordError | None] = []
        views = []
        for record, r in zip(records, rendered):
            if isinstance(r, RecordError):
                out.append(r)
                continue
            encoding = next(encodings)
            out.append(self._label(record, r, encoding, tally))
            if len(views) < show and out[-1] is not None:
                views.append((record.get(self.options.id_field), self._pieces(r, encoding, out[-1]["labels"])))
        return out, tally, views

    def _suspicious(self, messages) -> bool:
        if self._fmt is None:
            return False
        search_open, search_close = self._fmt.open_re.search, self._fmt.close_re.search
        return any(search_open(text) or search_close(text) for m in messages for text in (m.content, m.reasoning or ""))

    def _label(self, record: dict, r: Rendered, encoding: Any, tally: Counter) -> dict | None:
        o = self.options
        ids = encoding.ids
        n = len(ids)
        truncated = o.max_length is not None and n > o.max_length
        if truncated and o.overflow == "drop":
            tally["dropped"] += 1
            return None
        keep = min(n, o.max_length) if o.max_length is not None else n
        at = _Boundaries(encoding, r.text, n)
        counts = {"think": 0, "answer": 0}
        trained_chars = []
        for part, spans in (("think", r.think), ("answer", r.answer)):
            for a, b in spans:
                counts[part] += min(at(b), keep) - min(at(a), keep)
                if part not in o.mask:
                    trained_chars.append((a, b))
        if "prompt" not in o.mask:
            trained_chars += _gaps(sorted(r.think + r.answer), len(r.text))
        if "prompt" in o.mask and r.given:  # what the generation prompt holds is prompt too
            trained_chars = _minus(_merge(trained_chars), r.given)
        labels = [o.ignore_index] * keep
        trained = 0
        for a, b in _merge(trained_chars):
            first, end = at.inside(a, b)
            end = min(end, keep)
            if first < end:
                labels[first:end] = ids[first:end]
                trained += end - first
        tally.update(
            records=1,
            tokens=keep,
            trained=trained,
            truncated=int(truncated),
            reinserted=int(r.reinserted),
            history_dropped=r.dropped,
            call_dropped=r.call_dropped,
            empty_think=r.inserted,
        )
        kept = {k: v for k, v in record.items() if k not in COLUMNS} if o.keep_fields else {}
        return {
            **kept,
            "id": record.get(o.id_field),
            "input_ids": ids[:keep] if truncated else ids,
            "labels": labels,
            "attention_mask": [1] * keep,
            "prompt_tokens": keep - counts["think"] - counts["answer"],
            "think_tokens": counts["think"],
            "answer_tokens": counts["answer"],
            "trained_tokens": trained,
            "truncated": truncated,
        }

    def explain(self, record: dict) -> list[tuple[str, str, bool]]:
        """The record's tokens as ``(text, part, trained)``, for a person to look at (``--show``);
        empty when ``--overflow drop`` leaves the record out."""
        result, _, views = self.batch([record], show=1)
        if isinstance(result[0], RecordError):
            raise result[0]
        return views[0][1] if views else []

    def _pieces(self, r: Rendered, encoding: Any, labels: list[int]) -> list[tuple[str, str, bool]]:
        parts = sorted([(a, b, "think") for a, b in r.think] + [(a, b, "answer") for a, b in r.answer])
        pieces, shown = [], 0
        for t, (start, end) in enumerate(encoding.offsets[: len(labels)]):
            part = next((p for a, b, p in parts if a <= start < b), "prompt")
            pieces.append((r.text[max(start, shown) : end], part, labels[t] != self.options.ignore_index))
            shown = max(shown, end)
        return pieces


def column_types() -> dict:
    """Arrow types of the columns tp mask writes (``id`` is typed by its values)."""
    import pyarrow as pa

    ids = pa.list_(pa.int32())
    return {
        "input_ids": ids,
        "labels": ids,
        "attention_mask": ids,
        **{name: pa.int32() for name in COUNT_COLUMNS},
        "truncated": pa.bool_(),
    }


@dataclass
class MaskBatch:
    """tp mask's batch function for ``streams.write_job`` (run in workers): a block's masked
    records, with its tally and, with ``show``, the token views of its first records beside them."""

    masker: Masker
    show: int = 0

    def __call__(self, records: list[dict]) -> streams.Mapped:
        results, tally, views = self.masker.batch(records, self.show)
        return streams.Mapped(results, (tally, views))


@dataclass
class MaskTotals:
    """What the main process folds from every block, in input order: the run's tally and the
    views of its first ``show`` records."""

    show: int = 0
    tally: Counter = field(default_factory=Counter)
    views: list = field(default_factory=list)

    def fold(self, side: tuple[Counter, list]) -> None:
        counts, views = side
        self.tally.update(counts)
        self.views.extend(views[: self.show - len(self.views)])


def describe(tally: Counter, options: MaskOptions, template: Template) -> list[str]:
    """The summary lines of a run's tally: nothing done to a record goes unreported."""
    tokens, trained = tally["tokens"], tally["trained"]
    share = f" ({100 * trained / tokens:.1f}%)" if tokens else ""
    masked = ", ".join(p for p in PARTS if p in options.mask) or "nothing"
    lines = [f"{tokens} tokens, {trained} trained{share}; masked: {masked}; template style: {template.style}"]
    if tally["truncated"]:
        lines.append(f"{tally['truncated']} records truncated to --max-length {options.max_length} tokens")
    if tally["dropped"]:
        lines.append(f"{tally['dropped']} records dropped: longer than --max-length {options.max_length} tokens")
    if tally["reinserted"]:
        lines.append(
            f"{tally['reinserted']} records: the chat template of {template.name} cuts the last turn's "
            "reasoning; tp put it back"
        )
    if tally["history_dropped"]:
        lines.append(
            f"{tally['history_dropped']} trained history turns lost their reasoning: the chat template of "
            f"{template.name} leaves it out of history (train --train-turns last to avoid it)"
        )
    if tally["call_dropped"]:
        lines.append(
            f"{tally['call_dropped']} trained tool-calling turns lost their reasoning: the chat template of "
            f"{template.name} leaves it out of them"
        )
    if tally["tools_unlisted"]:
        lines.append(
            f"{tally['tools_unlisted']} records have a tools list the chat template of {template.name} does not "
            "render: the model trains without seeing it (put the tools into the system message)"
        )
    if tally["empty_think"]:
        lines.append(
            f"{tally['empty_think']} turns without reasoning got an empty think block (--no-empty-think to stop)"
        )
    if tally["inline_text"]:
        d = template.delimiters
        lines.append(
            f"{tally['inline_text']} records: the chat template of {template.name} has no reasoning style, so "
            f"their reasoning is written inline in the assistant content as {d.open}…{d.close}, masked as "
            "think (--think-tags picks other tags)"
        )
    return lines


class _Boundaries:
    """Token indices at character boundaries, from the encoding's offsets, asked only where needed."""

    def __init__(self, encoding: Any, text: str, n: int):
        self.e, self.length, self.n = encoding, len(text), n

    def __call__(self, pos: int) -> int:
        """The first token that starts at or after character ``pos``."""
        e, n = self.e, self.n
        t = None
        while t is None:
            if pos >= self.length:
                return n
            t = e.char_to_token(pos)
            pos += t is None  # a character no token covers (dropped by a normalizer): look at the next
        while t < n and e.token_to_chars(t)[0] < pos:
            t += 1
        return t

    def inside(self, a: int, b: int) -> tuple[int, int]:
        """The tokens ``[first, end)`` that lie wholly inside characters ``[a, b)`` and share no
        character with a token outside them."""
        e, first, end = self.e, self(a), self(b)
        while 0 < first < end and e.token_to_chars(first - 1)[1] > e.token_to_chars(first)[0]:
            first += 1  # the rest of a character whose first bytes are in the token before
        while end > first and e.token_to_chars(end - 1)[1] > b:
            end -= 1  # straddles the end
        return first, end


def _gaps(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    gaps, pos = [], 0
    for a, b in spans:
        if a > pos:
            gaps.append((pos, a))
        pos = max(pos, b)
    if pos < length:
        gaps.append((pos, length))
    return gaps


def _minus(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` (merged) without the characters of ``holes``."""
    out = []
    for a, b in spans:
        for h, k in sorted(holes):
            if h < b and k > a:
                if h > a:
                    out.append((a, h))
                a = max(a, k)
        if a < b:
            out.append((a, b))
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]
