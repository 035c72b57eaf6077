"""Training and prompt records read into one conversation shape, for ``tp mask`` and ``tp steer``.

Two input shapes:

- ThinkPack's ``instruction`` / ``reasoning`` (optional) / ``response`` records, with an
  optional ``system``; field names can be overridden.
- chat records: ``messages`` in OpenAI form, multi-turn. An assistant turn carries its
  reasoning in ``reasoning_content``, ``reasoning`` or ``thinking``, or inline in its content
  when the content starts with a block (``<think>…</think>``, ``[THINK]…[/THINK]``, harmony
  channels); a delimiter later in the content is the answer's own text. Content may also be a
  list of typed parts (OpenAI ``{"type": "text", "text": …}``, LLaMA-Factory
  ``{"type": …, "value": …}``) with ``reasoning`` and ``tool_call`` parts. Tool calls come as
  OpenAI ``tool_calls`` or LLaMA-Factory ``tool_call`` parts, results as ``tool`` messages, and
  the record's ``tools`` (a list, or a JSON string of one) go to the chat template.

Reasoning is stripped of surrounding whitespace, as ``tp parse`` strips it; an answer loses its
trailing whitespace and leading blank lines, never the indentation of its first line.
Anything else is a ``RecordError`` that says what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import RecordError
from .fields import INSTRUCTION_FIELDS, REASONING_FIELDS, RESPONSE_FIELDS
from .formats import EMPTY, FORMATS, TRUNCATED, VALID, AutoFormat
from .formats.base import code_spans, first_outside

ROLES = ("system", "user", "assistant", "tool")
_TEXT_PARTS = ("text", "input_text", "output_text")
_REASONING_PARTS = ("reasoning", "thinking")
_TOOL_CALL_PARTS = ("tool_call", "function_call")
_TOOL_KEYS = ("tool_call_id", "name")  # what a tool result says about the call it answers
_AUTO = AutoFormat()
_LEADING_BLANK_LINES = re.compile(r"\s*\n")


@dataclass(slots=True)
class Message:
    role: str
    content: str
    reasoning: str | None = None  # assistant turns only; "" is an empty block, None is no block
    tool_calls: list = field(default_factory=list)  # assistant turns: OpenAI-form calls
    extra: dict = field(default_factory=dict)  # tool turns: tool_call_id, name


@dataclass(frozen=True)
class Fields:
    """Field names of instruction records; None picks the first present of the defaults."""

    instruction: str | None = None
    reasoning: str | None = None
    response: str | None = None
    system: str = "system"
    messages: str = "messages"


def conversation(record: dict, fields: Fields = Fields(), need_answer: bool = True) -> list[Message]:
    """The record as a list of messages. ``need_answer``: it must end with an assistant turn
    (to train on); otherwise a trailing assistant turn is allowed but not required (a prompt)."""
    if fields.messages in record:
        messages = _chat(record[fields.messages], fields.messages)
    else:
        messages = _instruction(record, fields, need_answer)
    if need_answer and messages[-1].role != "assistant":
        raise RecordError(f"the last message is from {messages[-1].role!r}, not the assistant: nothing to train on")
    return messages


def tools(record: dict) -> list | None:
    """The record's ``tools`` list for the chat template, or None."""
    value = record.get("tools")
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RecordError("field 'tools' is a string but not JSON") from None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RecordError("field 'tools' must be a list of tool objects")
    return [_schema(t) for t in value]


def _schema(tool: dict) -> dict:
    """A tool whose ``parameters`` name the arguments directly (ToolBench, LLaMA-Factory's demo data)
    as the JSON Schema object chat templates read (``{"type": "object", "properties": …}``)."""
    function = tool.get("function")
    params = function.get("parameters") if isinstance(function, dict) else None
    if (
        not isinstance(params, dict)
        or "properties" in params
        or params.get("type") not in (None, "object")
        or not params
    ):
        return tool
    if not all(isinstance(v, dict) for v in params.values()):
        return tool
    return {**tool, "function": {**function, "parameters": {"type": "object", "properties": params}}}


def _instruction(record: dict, fields: Fields, need_answer: bool) -> list[Message]:
    name, instruction = _pick(record, fields.instruction, INSTRUCTION_FIELDS, "instruction")
    if instruction is None:
        raise RecordError(_shape_error(record, fields))
    messages = []
    system = record.get(fields.system)
    if system is not None:
        messages.append(Message("system", _text(system, fields.system)))
    messages.append(Message("user", _text(instruction, name)))
    response_name, response = _pick(record, fields.response, RESPONSE_FIELDS, "response")
    reasoning_name, reasoning = _pick(record, fields.reasoning, REASONING_FIELDS, "reasoning")
    if response is None:
        if need_answer:
            raise RecordError(f"no response field (tried {', '.join(_tried(fields.response, RESPONSE_FIELDS))})")
        return messages
    reasoning = None if reasoning is None else _text(reasoning, reasoning_name)
    messages.append(_assistant(_text(response, response_name), reasoning, response_name, reasoning_name))
    return messages


def _chat(messages, name: str) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise RecordError(f"field {name!r} must be a non-empty list of messages")
    out = []
    for i, message in enumerate(messages):
        where = f"{name}[{i}]"
        if not isinstance(message, dict):
            raise RecordError(f"{where} is {_kind(message)}, not a message object")
        role = message.get("role")
        if role not in ROLES:
            raise RecordError(f"{where} has role {role!r}; expected one of {', '.join(ROLES)}")
        content, part_reasoning, part_calls = _content(message.get("content"), f"{where}.content")
        calls = part_calls + [
            _tool_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(message.get("tool_calls") or [])
        ]
        if role != "assistant":
            if part_reasoning is not None or calls:
                raise RecordError(f"{where} is a {role} message with a reasoning or tool-call part")
            extra = {k: message[k] for k in _TOOL_KEYS if role == "tool" and isinstance(message.get(k), str)}
            out.append(Message(role, content, extra=extra))
            continue
        field = next((f for f in REASONING_FIELDS if message.get(f) is not None), None)
        reasoning = part_reasoning
        if field is not None:
            if part_reasoning is not None:
                raise RecordError(f"{where} has reasoning twice: field {field!r} and a reasoning part")
            reasoning = _text(message[field], f"{where}.{field}")
        turn = _assistant(content, reasoning, f"{where}.content", f"{where}.{field or 'reasoning'}")
        turn.tool_calls = calls
        out.append(turn)
    for k, m in enumerate(out):
        for j, call in enumerate(m.tool_calls):
            call.setdefault("id", f"call_{k}_{j}")
    return out


def _tool_call(call, where: str) -> dict:
    """An OpenAI-form call, ``{"type": "function", "function": {"name", "arguments"}}``, with its
    arguments as an object (what chat templates expect; a JSON string is parsed)."""
    if isinstance(call, str):
        try:
            call = json.loads(call)
        except ValueError:
            raise RecordError(f"{where} is not a JSON tool call") from None
    if not isinstance(call, dict):
        raise RecordError(f"{where} is {_kind(call)}, not a tool call object")
    function = call.get("function", call)
    name, arguments = (
        (function.get("name"), function.get("arguments", {})) if isinstance(function, dict) else (None, None)
    )
    if not isinstance(name, str):
        raise RecordError(f"{where} has no function name")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise RecordError(f"{where} has arguments that are not JSON") from None
    out = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if isinstance(call.get("id"), str):
        out["id"] = call["id"]
    return out


def _content(content, where: str) -> tuple[str, str | None, list]:
    """A message's text, the reasoning of its reasoning parts (None when it has none) and its tool-call parts."""
    if isinstance(content, str):
        return content, None, []
    if content is None:
        return "", None, []
    if not isinstance(content, list):
        raise RecordError(f"{where} is {_kind(content)}, not a string or a list of parts")
    texts, reasonings, calls = [], [], []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        value = part.get("text", part.get("value")) if isinstance(part, dict) else None
        if kind in _TEXT_PARTS or kind in _REASONING_PARTS:
            (texts if kind in _TEXT_PARTS else reasonings).append(_text(value, f"{where}[{j}]"))
        elif kind in _TOOL_CALL_PARTS:
            calls.append(_tool_call(value if value is not None else part.get(kind), f"{where}[{j}]"))
        else:
            raise RecordError(
                f"{where}[{j}] is a part of type {kind!r}; only text, reasoning and tool-call parts are supported"
            )
    return "".join(texts), ("\n\n".join(reasonings) if reasonings else None), calls


def _assistant(content: str, reasoning: str | None, content_name: str, reasoning_name: str) -> Message:
    """An assistant turn; a block the content starts with is its reasoning, split out of it."""
    opened = _opening(content)
    split = _AUTO.split(content) if opened else None
    if split is not None and split.status == TRUNCATED:
        raise RecordError(f"{content_name} opens a reasoning block that never closes")
    inline = split is not None and split.status in (VALID, EMPTY)
    # tp parse keeps the raw response beside the reasoning it split out: the same reasoning twice is fine.
    if inline and reasoning is not None and reasoning.strip() != split.reasoning:
        raise RecordError(f"reasoning given twice, differently: in {reasoning_name!r} and inline in {content_name!r}")
    if inline:
        return Message("assistant", _after_block(content, *opened, split.answer), split.reasoning)
    return Message("assistant", answer_text(content), None if reasoning is None else reasoning.strip())


def answer_text(text: str) -> str:
    """An answer without trailing whitespace or leading blank lines; its first line keeps its indentation."""
    m = _LEADING_BLANK_LINES.match(text)
    return text[m.end() if m else 0 :].rstrip()


def _opening(content: str):
    """The format and match of the opening delimiter ``content`` starts with, or None."""
    start = len(content) - len(content.lstrip())
    for fmt in FORMATS.values():
        m = fmt.open_re.match(content, start)
        if m is not None:
            return fmt, m
    return None


def _after_block(content: str, fmt, opened, answer: str) -> str:
    """The answer after the block ``content`` starts with, its indentation kept (the split strips it)."""
    closed = first_outside(fmt.close_after(opened), content, opened.end(), code_spans(content))
    if closed is None or fmt.name == "harmony":  # harmony's answer is its final channel
        return answer
    return answer_text(content[closed.end() :])


def _pick(record: dict, name: str | None, defaults: tuple[str, ...], what: str):
    if name is not None:
        return name, record.get(name)
    for candidate in defaults:
        if record.get(candidate) is not None:
            return candidate, record[candidate]
    return what, None


def _tried(name: str | None, defaults: tuple[str, ...]) -> tuple[str, ...]:
    return (name,) if name is not None else defaults


def _shape_error(record: dict, fields: Fields) -> str:
    tried = "/".join(_tried(fields.instruction, INSTRUCTION_FIELDS))
    keys = ", ".join(sorted(record)[:8]) or "none"
    return f"neither a chat record ({fields.messages!r}) nor an instruction record ({tried}); its fields: {keys}"


def _text(value, name: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is {_kind(value)}, not a string")
    return value


def _kind(value) -> str:
    if value is None:
        return "null"
    kinds = {list: "a list", dict: "an object", bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return kinds.get(type(value), f"a {type(value).__name__}")
