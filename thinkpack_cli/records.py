"""Training and prompt records read into one conversation shape, for ``tp mask`` and ``tp steer``.

Two input shapes:

- ThinkPack's ``instruction`` / ``reasoning`` (optional) / ``response`` records, with an
  optional ``system``; field names can be overridden.
- chat records: ``messages`` in OpenAI form, multi-turn. An assistant turn carries its
  reasoning in ``reasoning_content``, ``reasoning`` or ``thinking``, or inline in its content
  (``<think>…</think>``, ``[THINK]…[/THINK]``, harmony channels). Content may also be a list of
  typed parts (OpenAI ``{"type": "text", "text": …}``, LLaMA-Factory ``{"type": …, "value": …}``)
  with ``reasoning`` parts.

Reasoning and answers are stripped of surrounding whitespace, as ``tp parse`` strips them.
Anything else is a ``RecordError`` that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RecordError
from .formats import EMPTY, TRUNCATED, VALID, AutoFormat

INSTRUCTION_FIELDS = ("instruction", "prompt", "question")
RESPONSE_FIELDS = ("response", "output", "completion", "answer")
REASONING_FIELDS = ("reasoning", "reasoning_content", "thinking")
ROLES = ("system", "user", "assistant", "tool")
_TEXT_PARTS = ("text", "input_text", "output_text")
_REASONING_PARTS = ("reasoning", "thinking")
_AUTO = AutoFormat()


@dataclass(slots=True)
class Message:
    role: str
    content: str
    reasoning: str | None = None  # assistant turns only; "" is an empty block, None is no block


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
        if message.get("tool_calls"):
            raise RecordError(f"{where} has tool_calls, which tp mask and tp steer do not support yet")
        content, part_reasoning = _content(message.get("content"), f"{where}.content")
        if role != "assistant":
            if part_reasoning is not None:
                raise RecordError(f"{where} is a {role} message with a reasoning part")
            out.append(Message(role, content))
            continue
        field = next((f for f in REASONING_FIELDS if message.get(f) is not None), None)
        reasoning = part_reasoning
        if field is not None:
            if part_reasoning is not None:
                raise RecordError(f"{where} has reasoning twice: field {field!r} and a reasoning part")
            reasoning = _text(message[field], f"{where}.{field}")
        out.append(_assistant(content, reasoning, f"{where}.content", f"{where}.{field or 'reasoning'}"))
    return out


def _content(content, where: str) -> tuple[str, str | None]:
    """A message's text and the reasoning of its reasoning parts (None when it has none)."""
    if isinstance(content, str):
        return content, None
    if content is None:
        return "", None
    if not isinstance(content, list):
        raise RecordError(f"{where} is {_kind(content)}, not a string or a list of parts")
    texts, reasonings = [], []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        value = part.get("text", part.get("value")) if isinstance(part, dict) else None
        if kind in _TEXT_PARTS or kind in _REASONING_PARTS:
            (texts if kind in _TEXT_PARTS else reasonings).append(_text(value, f"{where}[{j}]"))
        else:
            raise RecordError(f"{where}[{j}] is a part of type {kind!r}; only text and reasoning parts are supported")
    return "".join(texts), ("\n\n".join(reasonings) if reasonings else None)


def _assistant(content: str, reasoning: str | None, content_name: str, reasoning_name: str) -> Message:
    """An assistant turn; reasoning written inline in the content is split out of it."""
    split = _AUTO.split(content)
    if split.status == TRUNCATED:
        raise RecordError(f"{content_name} opens a reasoning block that never closes")
    inline = split.status in (VALID, EMPTY)
    # tp parse keeps the raw response beside the reasoning it split out: the same reasoning twice is fine.
    if inline and reasoning is not None and reasoning.strip() != split.reasoning:
        raise RecordError(f"reasoning given twice, differently: in {reasoning_name!r} and inline in {content_name!r}")
    if inline:
        return Message("assistant", split.answer, split.reasoning)
    return Message("assistant", content.strip(), None if reasoning is None else reasoning.strip())


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
