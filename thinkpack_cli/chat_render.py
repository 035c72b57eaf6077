"""A chat template rendered as transformers 5.24 renders it, without importing transformers: its sandboxed
Jinja environment (options, the ``generation`` extension, ``tojson``, ``raise_exception``, ``strftime_now``,
a guarded ``dict`` and ``namespace``), messages as plain JSON values with None-valued keys dropped, and the
reasoning field under each name templates read. From ``utils/chat_template_utils.py``
(``_cached_compile_jinja_template``, ``render_jinja_template``) and ``tokenization_utils_base.apply_chat_template``;
light_tokenizer.py is its one user, and tests/test_light_tokenizer.py holds both against transformers.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")  # transformers aliases them to each other


def normalize(conversation) -> list[dict]:
    """Message objects to dicts, and a message's None-valued keys dropped (transformers 5.24 drops them)."""
    messages = _to_dicts(getattr(conversation, "messages", conversation))
    for m in messages:
        if not isinstance(m, dict):
            raise TypeError(f"Chat messages should be dicts, dataclasses or pydantic models, but got {m!r}.")
    return [{k: v for k, v in m.items() if v is not None} for m in messages]


def _to_dicts(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_dicts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_dicts(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_dicts(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _to_dicts(value.model_dump())
    return value


def _plain(value: Any) -> Any:
    """What the template may see: plain JSON types, anything else an inert ``<TypeName>``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    numpy = sys.modules.get("numpy")  # a numpy scalar exists only where numpy is imported
    if numpy is not None and isinstance(value, numpy.generic):
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def render(chats, template, tools, documents, add_generation_prompt, kwargs) -> list[str]:
    """transformers' ``render_jinja_template``, less what tp never asks for (assistant masks, prefill)."""
    compiled = _compile(template)
    if tools is not None and not all(isinstance(t, dict) for t in tools):
        raise ValueError("the light tokenizer takes tools as JSON schemas (dicts)")
    if documents is not None and not all(isinstance(d, dict) for d in documents):
        raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    tools, documents, kwargs = _plain(tools), _plain(documents), _plain(kwargs)
    out = []
    for chat in chats:
        chat = [_aliased(m) for m in _plain(chat)]
        out.append(
            compiled.render(
                messages=chat, tools=tools, documents=documents, add_generation_prompt=add_generation_prompt, **kwargs
            )
        )
    return out


def _aliased(message: dict) -> dict:
    """``reasoning_content`` from older names, and ``thinking`` for the templates that read that."""
    reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
    return {"thinking": reasoning, **message, "reasoning_content": reasoning} if reasoning is not None else message


@lru_cache
def _compile(template: str):
    """The template in transformers' sandboxed environment: its options, extension, filter and globals."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if tuple(int(p) for p in jinja2.__version__.split(".")[:3] if p.isdigit()) < (3, 1, 6):
        raise ImportError(f"chat templates need jinja2>=3.1.6 (sandbox escapes before it); found {jinja2.__version__}")

    class Generation(jinja2.ext.Extension):
        """``{% generation %}…{% endgeneration %}``: renders its body (transformers tracks it for assistant masks)."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    class TemplateDict:  # dict() without attribute access to break out through
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):  # no underscore-prefixed attributes
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                    "Please rename the attribute."
                )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now, dict=TemplateDict())
    env.globals["namespace"] = TemplateNamespace
    return env.from_string(template)
