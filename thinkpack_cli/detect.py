"""What a chat template does with reasoning, learned by rendering probe conversations, never by
reading its source or a table of model names.

- its **thinking switch**: the first of ``enable_thinking``, ``thinking``, ``skip_think``, ``thinking_budget`` whose
  value changes the generation prompt; reasoning is rendered with it on (Gemma-4, Granite 3.3,
  EXAONE's ``skip_think=False``, DeepSeek-V3.1's ``thinking``), unless the user set it;
- its **style**: *native* (it renders a message field, ``reasoning_content`` or ``thinking``,
  maybe only in tool-calling turns: Kimi-K2), *harmony* (the same, in gpt-oss's analysis
  channel), *prefixed* (its generation prompt opens the block: DeepSeek-R1-Distill, QwQ,
  Nemotron), *inline* / *bracket* (``<think>`` / ``[THINK]`` are single tokens: SmolLM3,
  Magistral), or *text*: no reasoning style at all (Llama-3.1, Gemma-3, DeepSeek-V3, Granite);
  its reasoning goes into the content as plain-text tags (``<think>\\n…\\n</think>\\n\\n``, or
  ``--think-tags``);
- the family's own **block** (Seed-OSS ``<seed:think>R</seed:think>``, Kimi ``<think>R</think>``),
  its own **empty block** (Qwen3 ``enable_thinking=False``, V3.1 ``</think>``) and whether it
  writes one itself in every turn (then tp never writes reasoning into the content);
- which turns' reasoning it **drops**, whether the model has a **thinking mode** at all, and how
  it renders **tool calls** (tools.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from . import tools
from .delimiters import DELIMITERS, Delimiters
from .errors import RecordError, UsageError
from .formats import FORMATS, CustomFormat, TagFormat, prompt_opens_reasoning
from .formats.base import last_match
from .markers import mark
from .template import Template

NATIVE_FIELDS = ("reasoning_content", "thinking")  # the names chat templates read reasoning from
# (kwarg, on, off): switches templates read to turn reasoning on.
SWITCHES = (
    ("enable_thinking", True, False),
    ("thinking", True, False),
    ("skip_think", False, True),
    ("thinking_budget", -1, 0),  # Seed-OSS: -1 (unlimited) renders as no value; 0 closes the block
)
_USER = tools.PROBE_USER


def detect(tokenizer: Any, template_kwargs: dict | None = None, think_tags: tuple[str, str] | None = None) -> Template:
    """The reasoning style of ``tokenizer``'s chat template, learned by rendering probes."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("the tokenizer has no chat template")
    name = os.path.basename(str(getattr(tokenizer, "name_or_path", "") or "").rstrip("/")) or "the tokenizer"
    t = Template(tokenizer, name, dict(template_kwargs or {}), end_of_turn=_end_of_turn_pattern(tokenizer))
    suffix = _suffix(t, None)
    t = replace(t, switch=_switch(t))
    on = _suffix(t, True)
    t = replace(t, generation_prompt=suffix, thinking_prompt=on, header=_header(on))
    t = _style(t, think_tags)
    if t.format is None:
        return t
    own = _own_block(t)
    t = replace(t, in_content=t.reasoning_field is None and own is None)
    empty, own_empty = _empty_block(t, own)
    t = replace(
        t,
        drops=_drops(t),
        empty_block=empty,
        own_empty=own_empty,
        thinking_mode=t.style != "text" and not (t.style == "inline" and t.switch is None and own is None),
    )
    return _tools(t)


def _probe(t: Template, turns: list[dict], thinking: bool | None = True, generation: bool = False, tools=None) -> str:
    try:
        return t.apply([_USER, *turns], add_generation_prompt=generation, tools=tools, thinking=thinking)
    except RecordError as e:
        raise UsageError(str(e)) from None


def _suffix(t: Template, thinking: bool | None) -> str:
    bare, generation = _probe(t, [], thinking), _probe(t, [], thinking, generation=True)
    return generation[len(os.path.commonprefix([bare, generation])) :]


def _switch(t: Template):
    for name, on, off in SWITCHES:
        if name in t.kwargs:
            continue
        try:
            prompts = [
                t.tokenizer.apply_chat_template(
                    [_USER], tokenize=False, add_generation_prompt=True, **{**t.kwargs, name: value}
                )
                for value in (on, off)
            ]
        except Exception:  # a template that chokes on a switch it does not know has none
            continue
        if prompts[0] != prompts[1]:
            return name, on, off
    return None


def _style(t: Template, think_tags: tuple[str, str] | None) -> Template:
    content, reasoning = mark("a", 1), mark("r", 1)
    for field_name in NATIVE_FIELDS:
        turn = {"role": "assistant", "content": content, field_name: reasoning}
        calling = {**turn, "tool_calls": [tools.CALL]}
        for text in (_probe(t, [turn]), _try(t, [calling, tools.RESULT], tools.TOOLS)):
            if text and reasoning in text:
                fmt = _opened_before(text, text.index(reasoning))
                if fmt is None:
                    raise UsageError(
                        f"the chat template of {t.name} renders {field_name!r} without reasoning delimiters tp knows"
                    )
                style = "harmony" if fmt.name == "harmony" else "native"
                return replace(
                    t,
                    style=style,
                    format=fmt,
                    reasoning_field=field_name,
                    delimiters=_around(text, fmt, reasoning, content),
                )
    opened = prompt_opens_reasoning(t.thinking_prompt)
    if opened is not None:
        m = last_match(opened.open_re, t.thinking_prompt)
        return replace(
            t, style="prefixed", format=opened, delimiters=_from_opening(opened, m, t.thinking_prompt[m.end() :])
        )
    for name in ("think", "bracket"):
        d = DELIMITERS[name]
        if _single_token(t.tokenizer, d.open) and _single_token(t.tokenizer, d.close):
            return replace(t, style="bracket" if name == "bracket" else "inline", format=FORMATS[name], delimiters=d)
    if think_tags is not None:
        opening, closing = think_tags
        return replace(
            t,
            style="text",
            format=CustomFormat(opening, closing),
            delimiters=Delimiters(opening, closing, "\n", "\n", "\n\n"),
        )
    return replace(t, style="text", format=FORMATS["think"], delimiters=DELIMITERS["think"])


def _try(t: Template, turns: list[dict], tool_list) -> str | None:
    try:
        return t.apply([_USER, *turns], tools=tool_list, thinking=True)
    except RecordError:
        return None


def _opened_before(text: str, at: int) -> TagFormat | None:
    """The format whose opening delimiter comes last before ``at``."""
    best = None
    for fmt in FORMATS.values():
        m = last_match(fmt.open_re, text[:at])
        if m is not None and (best is None or m.start() > best[1]):
            best = fmt, m.start()
    return best[0] if best else None


def default_delimiters(fmt: TagFormat) -> Delimiters:
    """The format's block as its family writes it, from the registry's rendered form."""
    if fmt.name in DELIMITERS:
        return DELIMITERS[fmt.name]
    opening, closing = getattr(fmt, "rendered_open", ""), getattr(fmt, "rendered_close", "")
    o, c = fmt.open_re.match(opening), fmt.close_re.search(closing)
    if o is None or c is None:
        return DELIMITERS["think"]
    return Delimiters(o.group(0), c.group(0), opening[o.end() :], closing[: c.start()], closing[c.end() :])


def _around(text: str, fmt: TagFormat, reasoning: str, content: str) -> Delimiters:
    """The block as the template wrote it around ``reasoning``: Seed-OSS ``<seed:think>R</seed:think>\\n``."""
    r = text.index(reasoning)
    o = last_match(fmt.open_re, text[:r])
    c = fmt.close_after(o).search(text, r + len(reasoning))
    a = text.find(content, c.end()) if c else -1
    if c is None or a < 0:
        return default_delimiters(fmt)
    return Delimiters(
        o.group(0), c.group(0), text[o.end() : r], text[r + len(reasoning) : c.start()], text[c.end() : a]
    )


def _from_opening(fmt: TagFormat, opened: re.Match, after_open: str) -> Delimiters:
    """The block from the opening a prompt ends with; the close mirrors it (V3.1 ``<think>R</think>``)."""
    d = default_delimiters(fmt)
    if after_open == d.after_open:
        return replace(d, open=opened.group(0))
    mirrored = after_open.strip(" ") == ""
    return Delimiters(
        opened.group(0),
        d.close,
        after_open,
        after_open if mirrored else d.before_close,
        (after_open * 2 if after_open else "") if mirrored else d.after_close,
    )


def _own_block(t: Template) -> str | None:
    """The block the template writes by itself before a plain answer in the last turn (Kimi
    ``<think></think>``, V3.1 ``</think>``, Nemotron's opening ``<think>\\n``), or None."""
    content = mark("a", 1)
    text = _probe(t, [{"role": "assistant", "content": content}])
    at = text.find(content)
    if at < 0:  # a template that rewrites the content: render reports it, record by record
        return None
    start = text.rfind(t.header, 0, at) + len(t.header) if t.header and t.header in text[:at] else at
    glue = text[start:at]
    return glue if t.format.open_re.search(glue) or t.format.close_re.search(glue) else None


def _drops(t: Template) -> str:
    """Which turns' reasoning the template leaves out: none, history turns, or all of them."""

    def turn(i: int) -> dict:
        reasoning, content = mark("r", i), mark("a", i)
        if t.reasoning_field:
            return {"role": "assistant", "content": content, t.reasoning_field: reasoning}
        if t.in_content:
            return {"role": "assistant", "content": t.delimiters.block(reasoning) + content}
        return {"role": "assistant", "content": content}

    if mark("r", 1) not in _probe(t, [turn(1)]):
        return "all"
    two = _probe(t, [turn(1), {"role": "user", "content": "And 3 + 3?"}, turn(3)])
    return "history" if mark("r", 1) not in two else "none"


def _empty_block(t: Template, own: str | None) -> tuple[str, bool]:
    """The family's closed empty block, and whether it is the template's own: in its generation
    prompt with thinking off (Qwen3, Gemma-4; the user's kwargs may have turned it off), else the
    one it writes itself (Kimi), else its delimiters around nothing."""
    prompt = _suffix(t, False) if t.switch is not None else t.generation_prompt
    given = prompt[len(t.header) :] if prompt.startswith(t.header) else ""
    if t.format.close_re.search(given) and not prompt_opens_reasoning(given):
        return given, True
    if own is not None and t.format.close_re.search(own):
        return own, True
    return t.delimiters.block(""), False


def _tools(t: Template) -> Template:
    form, listed = tools.learn(t)
    return replace(t, tool_form=form, lists_tools=listed)


def _header(suffix: str) -> str:
    """The generation prompt up to its first reasoning delimiter (an opened or a closed empty block)."""
    cut = len(suffix)
    for fmt in FORMATS.values():
        for pattern in (fmt.open_re, fmt.close_re):
            m = pattern.search(suffix)
            if m is not None:
                cut = min(cut, m.start())
    return suffix[:cut]


def _single_token(tokenizer: Any, text: str) -> bool:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) == 1


def _end_of_turn_pattern(tokenizer: Any) -> re.Pattern | None:
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    special = sorted(
        {t.content for t in decoder.values() if getattr(t, "special", False) and t.content}, key=len, reverse=True
    )
    return re.compile(r"\s*(?:" + "|".join(map(re.escape, special)) + ")") if special else None
