"""Tool-calling turns as a chat template renders them, learned by rendering probes (``learn``).

A calling turn's reasoning is think; its calls train with the answer, through the last special
token the template writes after them when nothing follows (Qwen3's ``<|im_end|>``, gpt-oss's
``<|call|>``, Gemma-4's ``<|tool_response>``: what the model emits to hand over to the tool);
tool results are prompt. What differs between families, and is learned here:

- how the template takes call **arguments**: an object, or a JSON string (DeepSeek);
- what a calling turn without text passes as its **content**: ``""``, or None where the
  template renders calls only then (DeepSeek-V3, R1-Distill);
- where calls go **beside a turn's text**: after it, before it (Gemma-4), or never;
- whether it renders the calls of a conversation's **last turn** (Nemotron writes only the
  text of a final turn: tp renders the turn as history and cuts the text after its calls);
- whether it renders a **tools list** at all (Llama-3.1's short template, DeepSeek-V3 do not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import RecordError

PROBE_USER = {"role": "user", "content": "What is 2 + 2?"}
CALL = {"type": "function", "id": "call_0", "function": {"name": "tp_probe", "arguments": {"x": 1}}}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "tp_probe",
            "description": "A probe.",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
    }
]
RESULT = {"role": "tool", "content": "tp_result", "tool_call_id": "call_0", "name": "tp_probe"}


@dataclass(frozen=True)
class ToolForm:
    """How one chat template renders tool-calling turns."""

    args: str = "object"  # "object" or "string": how the template takes call arguments
    empty: str | None = ""  # the content of a calling turn without text
    beside: str | None = "after"  # where calls go beside a turn's text: "after", "before", None (never)
    end: str | None = None  # the last special token after a turn's calls
    last: bool = True  # the template renders the calls of a conversation's last turn
    after_result: str = ""  # what the template writes after a tool result's text
    result_prompt: str = ""  # what the generation prompt after a tool result adds (Gemma-4: an opened block)
    refused: str = ""  # why the template cannot render calls at all ("" where it can)

    def calls(self, calls: list[dict]) -> list[dict]:
        """``calls`` with their arguments in the template's form."""
        if self.args == "object":
            return calls
        return [_string_args(c) for c in calls]


def learn(t: Any) -> tuple[ToolForm, bool]:
    """The template's form of tool calls, and whether it renders a tools list."""
    listed = TOOLS[0]["function"]["description"] in (_render(t, [], TOOLS) or "")
    failed = None
    for args, call in (("object", CALL), ("string", _string_args(CALL))):
        for empty in ("", None):
            turn = {"role": "assistant", "content": empty, "tool_calls": [call]}
            try:
                text = t.apply([PROBE_USER, turn, RESULT], tools=TOOLS, thinking=True)
            except RecordError as e:
                failed = failed or (args, empty, e)
                continue
            at = _call_at(text)
            result = text.find(RESULT["content"], at) if at is not None else -1
            if result < 0:
                continue
            only = _render(t, [turn])
            last = _call_at(only) is not None
            end = _last_special(t, only[_call_at(only) :]) if last else _end_before(t, text[at:result])
            after = text[result + len(RESULT["content"]) :]
            prompt = _render(t, [turn, RESULT], generation=True) or text
            opened = prompt[len(text) :] if prompt.startswith(text) else ""
            return ToolForm(args, empty, _beside(t, call), end, last, after, opened), listed
    why = "its assistant turns show only their text"
    if failed is not None and failed[1] is None:
        # DeepSeek-V3 and R1-Distill write calls only for a null `content`, a key transformers drops before rendering.
        why += (
            f"; a turn without content, as transformers passes a null one, makes it fail: "
            f"{str(failed[2]).split(': ', 1)[-1]}"
        )
    return ToolForm(
        refused=f"the chat template of {t.name} renders no tool calls ({why}), so a tool-calling turn "
        "cannot be trained on it"
    ), listed


def _beside(t: Any, call: dict) -> str | None:
    """Where the template writes calls beside a turn's text (a marker): after it, before it, or never."""
    from .markers import mark

    content = mark("a", 1)
    text = _render(t, [{"role": "assistant", "content": content, "tool_calls": [call]}, RESULT])
    at = _call_at(text)
    if at is None or content not in text:
        return None
    return "after" if at > text.index(content) else "before"


def _render(t: Any, turns: list[dict], tools: list | None = TOOLS, generation: bool = False) -> str | None:
    try:
        return t.apply([PROBE_USER, *turns], add_generation_prompt=generation, tools=tools, thinking=True)
    except RecordError:
        return None


def _call_at(text: str | None) -> int | None:
    """Where the probe's call is written: its name or id (Kimi's), first after the user's question
    (a tools list may name it before)."""
    if text is None or PROBE_USER["content"] not in text:
        return None
    after = text.index(PROBE_USER["content"])
    found = [k for k in (text.find(CALL["function"]["name"], after), text.find(CALL["id"], after)) if k >= 0]
    return min(found, default=None)


def _last_special(t: Any, tail: str) -> str | None:
    ends = list(t.end_of_turn.finditer(tail)) if t.end_of_turn is not None else []
    return ends[-1].group(0).strip() if ends else None


def _end_before(t: Any, glue: str) -> str | None:
    """What ends a calling turn the template renders only before a result (Nemotron): the end of
    a plain turn where the glue holds one, else the first special token after the arguments."""
    if t.end_of_turn is None:
        return None
    plain = _render(t, [{"role": "assistant", "content": "tp_answer"}], None) or ""
    eot = t.end_of_turn.match(plain, plain.find("tp_answer") + len("tp_answer")) if "tp_answer" in plain else None
    if eot is not None and eot.group(0).strip() in glue:
        return eot.group(0).strip()
    special = t.end_of_turn.search(glue, glue.rfind("1"))
    return special.group(0).strip() if special else None


def _string_args(call: dict) -> dict:
    return {**call, "function": {**call["function"], "arguments": json.dumps(call["function"]["arguments"])}}
