"""Split raw model outputs into reasoning and answer, record by record.

Pure functions over plain records: ``Parser(options)(records)`` for a batch,
``parse_record`` for one; ``batches.parse_batch`` for ``datasets.map(batched=True)``.
``tp parse`` runs them through the streaming layer; ``tp stats`` reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import paths
from .errors import RecordError, UsageError
from .fields import REASONING_FIELDS, TEXT_FIELDS
from .formats import EMPTY, MISSING, STATUSES, TRUNCATED, VALID, Split, get_format, prompt_opens_reasoning

OWNED_FIELDS = ("reasoning", "answer", "status", "reasoning_format", "reasoning_tag")
TOKEN_FIELDS = ("reasoning_tokens", "answer_tokens")
SPLIT_BY_FIELD = "field"  # reasoning_format of records whose server split the reasoning off


@dataclass(frozen=True)
class ParseOptions:
    field: str | None = None  # name or dotted path; None: the first of TEXT_FIELDS present
    format: str = "auto"
    open_tag: str | None = None
    close_tag: str | None = None
    prefixed: bool | None = None  # None: infer (a close before any open means the prompt opened the block)
    prompt_field: str = "prompt"
    tokenizer: str | None = None
    reasoning_field: str | None = None  # None: any of REASONING_FIELDS (two that differ are an error)


class Parser:
    """Parses records with one set of options. Callable on a list of records;
    returns, for each, the record with the parse fields added, or a ``RecordError``."""

    def __init__(self, options: ParseOptions = ParseOptions(), tokenizer: Any = None):
        self.options = options
        try:
            self.format = get_format(options.format, options.open_tag, options.close_tag)
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.path = paths.compile(options.field) if options.field else None
        self.tokenizer = tokenizer
        self.reasoning_fields = (options.reasoning_field,) if options.reasoning_field else REASONING_FIELDS

    @classmethod
    def create(cls, options: ParseOptions) -> Parser:
        """A parser for ``options``, loading ``options.tokenizer`` to count tokens and,
        unless ``prefixed`` is stated, to learn whether its template opens the block."""
        if options.tokenizer is None:
            return cls(options)
        from . import tokenizer as tokenizers

        loaded = tokenizers.load(options.tokenizer)
        if options.prefixed is None and getattr(loaded, "chat_template", None):
            options = replace(options, prefixed=tokenizers.prefixed_format(loaded) is not None)
        return cls(options, loaded)

    @property
    def appended_fields(self) -> tuple[str, ...]:
        """The fields parsing adds; it changes no other (the I/O layer appends them to the input line)."""
        return OWNED_FIELDS + (TOKEN_FIELDS if self.tokenizer is not None else ())

    def __call__(self, records: list[dict]) -> list[dict | RecordError]:
        out: list[dict | RecordError] = []
        for record in records:
            try:
                out.append(self.parse_record(record))
            except RecordError as e:
                out.append(e)
        if self.tokenizer is not None:
            self.count_tokens([r for r in out if not isinstance(r, RecordError)])
        return out

    def parse_record(self, record: dict) -> dict:
        """``record`` with reasoning, answer, status, reasoning_format and reasoning_tag set."""
        result = self.split_record(record)
        if isinstance(result, list):
            record["reasoning"] = [s.reasoning for s in result]
            record["answer"] = [s.answer for s in result]
            record["status"] = [s.status for s in result]
            record["reasoning_format"] = [s.format for s in result]
            record["reasoning_tag"] = [s.tag for s in result]
        else:
            record["reasoning"] = result.reasoning
            record["answer"] = result.answer
            record["status"] = result.status
            record["reasoning_format"] = result.format
            record["reasoning_tag"] = result.tag
        return record

    def split_record(self, record: dict) -> Split | list[Split]:
        """The split of the record's text field (a list of splits for a list of samples)."""
        name, parents, text = self._text(record)
        prefixed = self._prefixed(record)
        if self.path is not None and self.path.wildcard:  # one sample per match, each beside its own fields
            return [
                self._split(name, t, *_beside(p, record, self.reasoning_fields), prefixed)
                for t, p in zip(text, parents)
            ]
        reasoning, reasoning_field, finish = _beside(parents, record, self.reasoning_fields)
        if isinstance(text, list):
            return [
                self._split(name, t, _nth(reasoning, i), reasoning_field, _nth(finish, i), prefixed)
                for i, t in enumerate(text)
            ]
        return self._split(name, text, reasoning, reasoning_field, finish, prefixed)

    def _split(self, name, text, reasoning, reasoning_field, finish, prefixed) -> Split:
        if isinstance(reasoning, str):
            answer = "" if text is None else text
            if not isinstance(answer, str):
                raise RecordError(f"field {name!r} is {_kind(answer)}, not a string")
            reasoning, answer = reasoning.strip(), answer.strip()
            if finish == "length" and not answer:  # the server never saw the block close
                return Split(reasoning, "", TRUNCATED, SPLIT_BY_FIELD, reasoning_field)
            return Split(reasoning, answer, VALID if reasoning else EMPTY, SPLIT_BY_FIELD, reasoning_field)
        if not isinstance(text, str):
            raise RecordError(f"field {name!r} is {_kind(text)}, not a string")
        return self.format.split(text, prefixed)

    def _text(self, record: dict) -> tuple[str, list, Any]:
        if self.path is not None:
            try:
                matches = self.path.matches(record)
            except paths.Missing:
                raise RecordError(f"no field {self.options.field!r}") from None
            if self.path.wildcard:
                return self.options.field, [p for _, p in matches], [v for v, _ in matches]
            value, parents = matches[0]
            return self.options.field, parents, value
        for name in TEXT_FIELDS:
            if name in record:
                return name, [record], record[name]
        if any(isinstance(record.get(f), str) for f in self.reasoning_fields):
            return "content", [record], None  # reasoning came back alone: the answer is empty
        raise RecordError(f"no text field: looked for {', '.join(TEXT_FIELDS)} (name one with --field)")

    def _prefixed(self, record: dict) -> bool | None:
        # A record's own generation prompt that ends inside an open block is the
        # strongest evidence there is; otherwise the command-wide setting stands.
        prompt = record.get(self.options.prompt_field)
        if isinstance(prompt, str) and prompt_opens_reasoning(prompt) is not None:
            return True
        return self.options.prefixed

    def count_tokens(self, records: list[dict]) -> None:
        """Set reasoning_tokens and answer_tokens on parsed records, in one batched call."""
        from .tokenizer import count_tokens

        texts, slots, filled = [], [], []
        for record in records:
            for key, source in zip(TOKEN_FIELDS, ("reasoning", "answer")):
                value = record[source]
                items = value if isinstance(value, list) else [value]
                counts = [None] * len(items)  # a missing reasoning (None) has no count
                for i, item in enumerate(items):
                    if item is not None:
                        texts.append(item)
                        slots.append((counts, i))
                filled.append((record, key, counts, isinstance(value, list)))
        for (counts, i), n in zip(slots, count_tokens(self.tokenizer, texts)):
            counts[i] = n
        for record, key, counts, many in filled:
            record[key] = counts if many else counts[0]


def _beside(parents: list, record: dict, names: tuple[str, ...]) -> tuple[Any, str | None, Any]:
    """The text's context: a reasoning field beside it (and its name), and the nearest finish_reason."""
    reasoning_field, reasoning = _reasoning_sibling(parents[-1], record, names)
    return reasoning, reasoning_field, _finish_reason(parents)


def _reasoning_sibling(parent: Any, record: dict, names: tuple[str, ...]) -> tuple[str | None, Any]:
    """The reasoning field beside the text. Several that agree are one (vLLM sends `reasoning` and
    `reasoning_content` alike); two that differ are an error, never a silent pick."""
    if not isinstance(parent, dict):
        return None, None
    found = None
    for name in names:
        value = parent.get(name)
        if name == "reasoning" and parent is record and "reasoning_format" in record:
            # A record tp parsed before holds our own `reasoning`: only what a server split off under that name counts.
            value = _split_by_server(value, record["reasoning_format"], record.get("reasoning_tag"))
        if isinstance(value, str) or (
            isinstance(value, list) and value and all(isinstance(v, (str, type(None))) for v in value)
        ):
            if found is None:
                found = name, value
            elif _stripped(value) != _stripped(found[1]):
                raise RecordError(
                    f"two different reasoning fields, {found[0]!r} and {name!r}: "
                    "name the one to use with --reasoning-field"
                )
    return found or (None, None)


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else [v.strip() if isinstance(v, str) else v for v in value]


def _split_by_server(value: Any, formats: Any, tags: Any) -> Any:
    """Of our own ``reasoning`` (item by item for lists), what a server had split off into ``reasoning``."""
    if isinstance(value, list) and isinstance(formats, list) and isinstance(tags, list):
        kept = [v if (f, t) == (SPLIT_BY_FIELD, "reasoning") else None for v, f, t in zip(value, formats, tags)]
        return kept if any(v is not None for v in kept) else None
    return value if (formats, tags) == (SPLIT_BY_FIELD, "reasoning") else None


def _finish_reason(parents: list) -> Any:
    for node in reversed(parents):
        if isinstance(node, dict) and "finish_reason" in node:
            return node["finish_reason"]
    return None


def _nth(value: Any, i: int) -> Any:
    if isinstance(value, list):
        return value[i] if i < len(value) else None
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def is_parsed(record: dict) -> bool:
    """Whether ``record`` already went through ``tp parse``."""
    status = record.get("status")
    if isinstance(status, list):
        status = status[0] if status else None
    return status in STATUSES and "reasoning_format" in record and "answer" in record


def parse_record(record: dict, **options: Any) -> dict:
    """Parse one record (raises ``RecordError`` when it cannot be parsed)."""
    return Parser(ParseOptions(**options)).parse_record(record)


__all__ = [
    "EMPTY",
    "MISSING",
    "OWNED_FIELDS",
    "STATUSES",
    "TEXT_FIELDS",
    "TRUNCATED",
    "VALID",
    "ParseOptions",
    "Parser",
    "is_parsed",
    "parse_record",
]
