"""A record's prompt for the teacher, its gold answer and its key."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import orjson

from ..errors import RecordError, UsageError
from ..fields import DATASET_GOLD_FIELDS, QUESTION_FIELDS
from .options import WRITES, DistillOptions


class Prompter:
    """Renders a mode's Jinja template for a record into the message sent to the teacher.

    The template sees ``record`` and, when it uses them, ``question`` (the first of
    QUESTION_FIELDS), ``answer`` (the gold answer) and ``attempt`` (feedback mode).
    """

    def __init__(self, options: DistillOptions):
        import jinja2
        import jinja2.meta

        name = options.template or f"{options.mode}.jinja (built in)"
        if options.template is None:
            source = resources.files("thinkpack_cli").joinpath("prompts", f"{options.mode}.jinja").read_text("utf-8")
        else:
            try:
                with open(options.template, encoding="utf-8") as f:
                    source = f.read()
            except OSError as e:
                raise UsageError(f"cannot read --prompt-template {options.template}: {e.strerror or e}") from None
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            self.template = env.from_string(source)
            self.uses = jinja2.meta.find_undeclared_variables(env.parse(source))
        except jinja2.TemplateSyntaxError as e:
            raise UsageError(f"{name}:{e.lineno}: {e.message}") from None
        self.options = options
        self._error = jinja2.TemplateError
        self.gold_fields = (
            (options.gold_field,)
            if options.gold_field
            else tuple(f for f in DATASET_GOLD_FIELDS if f not in WRITES[options.mode])
        )

    def __call__(self, record: dict) -> tuple[str, Any]:
        """The prompt for ``record`` and its gold answer (None when neither needs one)."""
        values: dict[str, Any] = {"record": record}
        if "question" in self.uses:
            fields = (self.options.question_field,) if self.options.question_field else QUESTION_FIELDS
            values["question"] = _text(*_first(record, fields, "question", "--question-field"))
        gold = None
        if "answer" in self.uses or self.options.mode == "solve":
            gold = values["answer"] = _first(record, self.gold_fields, "gold answer", "--gold")[1]
        if "attempt" in self.uses:
            values["attempt"] = _text(*_first(record, ("attempt",), "student attempt", None))
        try:
            prompt = self.template.render(values)
        except self._error as e:
            raise RecordError(f"prompt template: {e}") from None
        if not prompt.strip():
            raise RecordError("the prompt template rendered nothing for this record")
        return prompt, gold


def _first(record: dict, names: tuple[str, ...], what: str, option: str | None) -> tuple[str, Any]:
    """The first of ``names`` the record has, and its value."""
    for name in names:
        if record.get(name) is not None:
            return name, record[name]
    hint = f" (name it with {option})" if option else ""
    raise RecordError(f"no {what} field: looked for {', '.join(names)}{hint}")


def _text(name: str, value: Any) -> str:
    """A field sent to the teacher as text: a list or a number would be sent, and paid for, as its Python repr."""
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is {type(value).__name__}, not text: nothing to ask the teacher")
    if not value.strip():
        raise RecordError(f"field {name!r} is empty: nothing to ask the teacher")
    return value


def record_key(record: dict, id_field: str | None) -> str:
    """``id:FIELD:VALUE`` with ``--id``, else ``hash:HEX`` of the record's content (field order aside)."""
    if id_field is None:
        content = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)
        return "hash:" + hashlib.blake2b(content, digest_size=16).hexdigest()
    value = record.get(id_field)
    if value is None:
        raise RecordError(f"no id field {id_field!r}")
    return f"id:{id_field}:" + orjson.dumps(value, default=str).decode()
