"""Chat templates as ``tp mask`` and ``tp steer`` see them: a conversation rendered with the
character spans of its reasoning blocks and trained answers.

``detect`` (detect.py) learns what a template does by rendering probes; ``Template.render``
renders a conversation once, in transformers' sandboxed Jinja environment, with each
assistant text replaced by a unique marker; the markers say where every text landed, whatever
glue the template put around it, and the real texts are spliced in. So the spans of think and
answer come from the rendered structure, never from searching for a text that may also occur
in the prompt.

Every reasoning block in the rendered sequence is think, in every turn (a template that keeps
history reasoning shows it again). Where the template leaves the last turn's reasoning out, tp
puts it back in the family's own hand: into the template's own empty block (Kimi's
``<think></think>``, DeepSeek-V3.1's bare ``</think>``, Qwen3's ``<think>\\n\\n</think>\\n\\n``),
after the opening it writes itself (Nemotron), or where the template cut it (DeepSeek-R1-Distill).
What the generation prompt already holds (an opened ``<think>\\n``) is prompt, as at inference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .delimiters import Delimiters
from .errors import RecordError
from .formats import TagFormat
from .formats.base import last_match
from .markers import check_same, find, mark, splice, unmark, unmark_message
from .records import Message
from .tools import ToolForm

STYLES = ("native", "harmony", "prefixed", "inline", "bracket", "text")


@dataclass(frozen=True)
class Rendered:
    """A conversation rendered to text, with the character spans of what is trained."""

    text: str
    think: list[tuple[int, int]]  # every reasoning block the text holds, delimiters included
    answer: list[tuple[int, int]]  # the rest of each trained turn's completion, end-of-turn token included
    reinserted: bool = False  # the template left the last turn's reasoning out and tp put it back
    dropped: int = 0  # trained history turns whose reasoning the template leaves out
    call_dropped: int = 0  # trained tool-calling turns whose reasoning the template leaves out
    inserted: int = 0  # empty blocks tp added to trained turns that had no reasoning
    given: list[tuple[int, int]] = field(
        default_factory=list
    )  # think the generation prompt holds: trained only with the prompt


@dataclass(frozen=True)
class Template:
    """A tokenizer's chat template and what ``detect`` learned about it."""

    tokenizer: Any
    name: str
    kwargs: dict = field(default_factory=dict)  # the user's, passed to every render
    style: str = "text"
    format: TagFormat | None = None  # the registry's format of the template's blocks
    delimiters: Delimiters | None = None  # the family's own block
    reasoning_field: str | None = None  # the message field the template renders reasoning from
    generation_prompt: str = ""  # what add_generation_prompt appends (the user's kwargs)
    thinking_prompt: str = ""  # the same with the template's thinking switch on
    header: str = ""  # the start of an assistant turn: the generation prompt up to any reasoning delimiter
    drops: str = "none"  # "none", "history" or "all": which turns' reasoning the template leaves out
    end_of_turn: re.Pattern | None = None  # whitespace and a special token, one of which may end a turn
    switch: tuple | None = None  # (kwarg, on, off): the template's own thinking switch (enable_thinking, …)
    in_content: bool = True  # reasoning goes into the content as a block (else the template writes its own)
    empty_block: str = ""  # the family's closed empty block, for turns without reasoning
    own_empty: bool = False  # the template writes that block itself (not tp's composition)
    thinking_mode: bool = True  # the model can think: turns without reasoning get an empty block
    tool_form: ToolForm = ToolForm()  # how the template renders tool calls (tools.py)
    lists_tools: bool = True  # the template renders a tools list

    # ------------------------------------------------------------------------ rendering

    def render_kwargs(self, thinking: bool | None) -> dict:
        """The user's kwargs, with the template's own switch on (``thinking`` True) or off (False);
        None, or a switch the user set, leaves them as they are."""
        if thinking is not None and self.switch is not None and self.switch[0] not in self.kwargs:
            return {**self.kwargs, self.switch[0]: self.switch[1] if thinking else self.switch[2]}
        return self.kwargs

    def apply(
        self,
        chat: list[dict],
        add_generation_prompt: bool = False,
        tools: list | None = None,
        thinking: bool | None = None,
    ) -> str:
        """The template's text for ``chat``; a template error is a one-line ``RecordError``."""
        extra = {"tools": tools} if tools else {}
        try:
            return self.tokenizer.apply_chat_template(
                chat,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                **extra,
                **self.render_kwargs(thinking),
            )
        except Exception as e:  # jinja raises TemplateError, templates raise anything via raise_exception
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RecordError(f"the chat template of {self.name} failed: {first}") from None

    def prompt(self, messages: list[Message], tools: list | None = None, thinking: bool | None = None) -> str:
        """The generation prompt for ``messages`` (their reasoning as the template renders history);
        ``thinking`` turns the template's own switch on or off."""
        chat, texts = self._chat(messages)
        return unmark(self.apply(chat, add_generation_prompt=True, tools=tools, thinking=thinking), texts)

    def render(
        self,
        messages: list[Message],
        tools: list | None = None,
        train_all: bool = False,
        empty_think: bool = True,
        verify: bool = False,
    ) -> Rendered:
        """``messages`` in training form (no generation prompt) with the spans of the trained turns:
        the last assistant turn, or every one with ``train_all``. ``empty_think`` gives trained turns
        without reasoning the family's empty block, as at inference. ``verify`` also renders the real
        texts and checks that the template treats them as it treated the markers."""
        assistant = [i for i, m in enumerate(messages) if m.role == "assistant"]
        last = assistant[-1]
        trained = set(assistant if train_all else assistant[-1:])
        thinking = True if any(messages[i].reasoning is not None for i in assistant) else None
        chat, texts = self._chat(messages)
        # A template that renders only the text of a final turn (Nemotron) renders a final calling
        # turn as history: before a sentinel turn (a marker that stands for itself), cut after the calls.
        sentinel = mark("t", len(chat)) if messages[-1].tool_calls and not self.tool_form.last else None
        if sentinel:
            texts[sentinel] = sentinel
            chat.append({"role": "user", "content": sentinel})
        marked = self._cut(self.apply(chat, tools=tools, thinking=thinking), sentinel)
        found = find(marked, self.name)
        if verify:
            real = self.apply([unmark_message(m, texts) for m in chat], tools=tools, thinking=thinking)
            check_same(self._cut(real, sentinel), splice(marked, found, texts)[0], self.name)
        reinserted, dropped, call_dropped, inserted = False, 0, 0, 0
        for i in sorted(trained, reverse=True):  # from the end: an edit moves nothing before it
            reasoning = messages[i].reasoning
            if ("r", i) in found:
                continue
            if ("a", i) not in found or (reasoning is not None and i != last):
                # The template's rule for calling turns (their text is never a marker) or history turns.
                if messages[i].tool_calls:
                    call_dropped += reasoning is not None
                else:
                    dropped += reasoning is not None
                continue
            if reasoning is None and not (i == last or self.drops == "none"):
                continue
            # An empty block where the model thinks, or where the generation prompt holds one (Gemma-4 off).
            empty = (empty_think and self.thinking_mode and self.reasoning_field is None) or (
                i == last and bool(self.format.close_re.search(self._given(thinking)))
            )
            edited = self._put_block(marked, found, i, mark("r", i) if reasoning is not None else None, empty)
            if edited is not None:
                marked, found = edited, find(edited, self.name)
                reinserted |= reasoning is not None
                inserted += reasoning is None
        text, spans = splice(marked, found, texts)
        think, answer, given = self._spans(text, spans, messages, assistant, trained, thinking)
        return Rendered(text, think, answer, reinserted, dropped, call_dropped, inserted, given)

    def _cut(self, text: str, sentinel: str | None) -> str:
        """``text`` up to the end of the calls before ``sentinel``'s turn, whitespace included."""
        if sentinel is None:
            return text
        end = self.tool_form.end
        k = text.rfind(end, 0, text.find(sentinel)) if end and sentinel in text else -1
        if k < 0:
            raise RecordError(f"the chat template of {self.name} leaves out the tool calls of the last turn")
        k += len(end)
        return text[: k + len(text[k:]) - len(text[k:].lstrip())]

    def _chat(self, messages: list[Message]) -> tuple[list[dict], dict[str, str]]:
        """The template's messages, with markers in place of assistant texts; and each marker's text."""
        chat, texts = [], {}
        for i, m in enumerate(messages):
            if m.role != "assistant":
                content = m.content
                if m.role == "tool":  # a marker before a tool result says where it landed; it stands for nothing
                    texts[mark("t", i)] = ""
                    content = mark("t", i) + content
                chat.append({"role": m.role, "content": content, **m.extra})
                continue
            content, reasoning = mark("a", i), mark("r", i)
            texts[content], texts[reasoning] = m.content, m.reasoning or ""
            turn = {"role": "assistant", "content": content}
            if m.reasoning is not None:
                if self.reasoning_field is not None:
                    turn[self.reasoning_field] = reasoning
                elif self.in_content:
                    turn["content"] = self.delimiters.block(reasoning) + content
            if m.tool_calls:
                form = self.tool_form
                if form.refused:
                    raise RecordError(form.refused)
                if m.content and form.beside is None:
                    raise RecordError(
                        f"the chat template of {self.name} renders tool calls only in turns without "
                        f"text; message {i} has both"
                    )
                turn["tool_calls"] = form.calls(m.tool_calls)
                if not m.content:
                    # A calling turn with no text: templates test the text (Qwen3 adds a newline before the
                    # call, Nemotron a blank line, gpt-oss refuses text beside reasoning), so they see it
                    # empty; one that renders calls only without content (DeepSeek-V3) gets none, and no
                    # reasoning in it.
                    turn["content"] = turn["content"].replace(content, "") if form.empty is not None else None
            chat.append(turn)
        return chat, texts

    def _put_block(self, marked: str, found: dict, i: int, reasoning: str | None, empty: bool) -> str | None:
        """``marked`` with a block for turn ``i``'s ``reasoning`` (None: an empty block, if ``empty``)
        where the template left none; None when nothing is to change. The template's own block is
        filled in; an opening it writes before the content is closed; else the family's block
        goes where the template cut it (the text it kept must be the composed block's tail)."""
        content = found[("a", i)].start()
        start = self._completion_start(marked, _previous_end(found, i), content)
        glue = marked[start:content]
        fmt, d = self.format, self.delimiters
        closed = last_match(fmt.close_re, glue, 0, len(glue))
        opened = last_match(fmt.open_re, glue, 0, closed.start() if closed else len(glue))
        if closed is not None:  # the template's own block (an empty one, or a bare close)
            if reasoning is None:
                return None
            at = opened.start() if opened is not None else closed.start()
            filled = (
                (glue[at : opened.end()] if opened is not None else d.open) + d.after_open + reasoning + d.before_close
            )
            return marked[: start + at] + filled + marked[start + closed.start() :]
        if opened is not None:  # an opening before the content: the content would sit inside the block
            after = glue[opened.end() :]
            body = (
                (reasoning or "")
                if after.endswith(d.after_open) or not d.after_open
                else d.after_open + (reasoning or "")
            )
            return marked[:content] + body + d.closing() + marked[content:]
        if reasoning is None and not empty:
            return None
        composed = d.block(reasoning) if reasoning is not None else self.empty_block
        if not composed.endswith(glue):
            raise RecordError(
                f"the chat template of {self.name} cuts the reasoning of message {i} in a way tp cannot undo"
            )
        return marked[:start] + composed + marked[content:]

    def _spans(
        self,
        text: str,
        spans: dict,
        messages: list[Message],
        assistant: list[int],
        trained: set[int],
        thinking: bool | None,
    ):
        """Every assistant turn's reasoning block (think), and each trained turn's answer."""
        think, answer, given_spans = [], [], []
        given = self._given(thinking)
        for i in assistant:
            if ("a", i) in spans:
                content_start, content_end = spans[("a", i)]
            elif messages[i].tool_calls and ("r", i) in spans:  # a calling turn with no text: after its block
                content_start = content_end = self._block(text, 0, 0, len(text), spans[("r", i)])[1]
            elif messages[i].tool_calls and (at := self._call_turn(text, spans, messages, i)) is not None:
                content_start = content_end = at  # nor any reasoning: after its header and the template's block
            elif i in trained:
                raise RecordError(f"the chat template of {self.name} leaves out the content of message {i}")
            else:
                continue
            lo = max((b for (_, j), (_, b) in spans.items() if j < i), default=0)
            first = spans[("r", i)][0] if ("r", i) in spans else content_start
            start = self._completion_start(text, lo, first)
            block = self._block(text, lo, start, content_start, spans.get(("r", i)))
            if block is not None:
                think.append(block)
            held = i in trained and given and block is not None and text.startswith(given, start)
            if held:
                given_spans.append((start, start + len(given)))  # the model is given this at inference
            elif i in trained and block is not None and (opened := self._opened_after_result(text, spans, messages, i)):
                given_spans.append(opened)  # what the generation prompt after a tool result opens (Gemma-4)
            if i not in trained:
                continue
            # The answer begins after the block, and after what the generation prompt holds beyond it
            # (Qwen3's "\n\n" after an empty block with thinking off: prompt, as at inference).
            begin = max(block[1] if block is not None else start, start, start + len(given) if held else 0)
            calls = bool(messages[i].tool_calls)
            end = self.tool_form.end if calls else None
            split = text.find(end, begin, content_start) if end and self.tool_form.beside == "before" else -1
            if split >= 0:  # calls before the text (Gemma-4), the tool results between them prompt
                answer += [(begin, split + len(end)), (content_start, self._turn_end(text, content_end, False))]
            else:
                answer.append((begin, self._turn_end(text, content_end, calls)))
        return think, answer, given_spans

    def _call_turn(self, text: str, spans: dict, messages: list[Message], i: int) -> int | None:
        """Where the calls of a calling turn the template left no text of begin: after the first turn
        header since the message before (a template that writes none after a tool result, DeepSeek-V3.1:
        after that result), and a block the template wrote there itself (Kimi's ``<think></think>``);
        gpt-oss drops both reasoning and empty text from history."""
        lo = max((b for (_, j), (_, b) in spans.items() if j < i), default=0)
        hi = min((a for (_, j), (a, _) in spans.items() if j > i), default=len(text))
        k = text.find(self.header, lo, hi) if self.header else -1
        at = k + len(self.header) if k >= 0 else self._after_result(text, spans, messages, i)
        if at is None:
            return None
        end_token = self.tool_form.end
        end = text.find(end_token, at) if end_token else -1
        block = self._block(text, lo, at, end, None) if end >= 0 else None
        return block[1] if block is not None else at

    def _after_result(self, text: str, spans: dict, messages: list[Message], i: int) -> int | None:
        """Where the template's text after the tool result before message ``i`` ends, if one is there."""
        if i == 0 or messages[i - 1].role != "tool" or ("t", i - 1) not in spans:
            return None
        at = spans[("t", i - 1)][1] + len(messages[i - 1].content)
        after = self.tool_form.after_result
        return at + len(after) if after and text.startswith(after, at) else at

    def _opened_after_result(self, text: str, spans: dict, messages: list[Message], i: int):
        """The opening of a block the generation prompt after a tool result holds, where turn ``i`` starts with it."""
        opening, at = self.tool_form.result_prompt, self._after_result(text, spans, messages, i)
        if not opening or at is None or not text.startswith(opening, at) or not self.format.open_re.search(opening):
            return None
        return at, at + len(opening)

    def _given(self, thinking: bool | None) -> str:
        """What the generation prompt holds beyond the turn header (an opened or closed empty block)."""
        prompt = self.thinking_prompt if thinking else self.generation_prompt
        return prompt[len(self.header) :] if prompt.startswith(self.header) else ""

    def _turn_end(self, text: str, content_end: int, calls: bool) -> int:
        """Where a trained turn ends: after its tool calls, and its end-of-turn token (the model must learn to stop)."""
        end = self.tool_form.end if calls else None
        if end:
            k = text.find(end, content_end)
            if k >= 0:
                return k + len(end)
        eot = self.end_of_turn.match(text, content_end) if self.end_of_turn is not None else None
        # A turn that runs on into the next one's block (Gemma-4's text after calls) has no end of its own.
        if eot is not None and not (
            self.format and self.format.open_re.match(text, eot.end() - len(eot.group(0).strip()))
        ):
            return eot.end()
        return content_end

    def _completion_start(self, text: str, lo: int, hi: int) -> int:
        """Where the model's own text of a turn begins: after the last turn header before ``hi``
        (a template without one, Magistral's: after the last special token, its ``[/INST]``)."""
        if not self.header:
            if self.end_of_turn is None:
                return hi
            ends = [m.end() for m in self.end_of_turn.finditer(text, lo, hi) if not self._delimiter(m.group(0).strip())]
            return max(ends, default=hi)
        k = text.rfind(self.header, lo, hi)
        return hi if k < 0 else k + len(self.header)

    def _delimiter(self, token: str) -> bool:
        fmt = self.format
        return fmt is not None and bool(fmt.open_re.fullmatch(token) or fmt.close_re.fullmatch(token))

    def _block(self, text: str, lo: int, start: int, content: int, reasoning: tuple[int, int] | None):
        """The reasoning block of a turn, delimiters included: around its reasoning, or one the
        template wrote itself (an empty block, V3.1's bare close) between the turn header and the
        content. Only template glue is searched, never a message's text: the opening delimiter is
        the last one before the reasoning (after the previous turn, ``lo``, for templates without a
        turn header); a block of the template's own must lie after the turn header (``start``)."""
        if self.format is None:
            return None
        fmt = self.format
        if reasoning is None:
            closed = last_match(fmt.close_re, text, start, content)
            if closed is None:
                return None
            opened = last_match(fmt.open_re, text, start, closed.start())
            return (opened.start() if opened else start), closed.end()
        opened = last_match(fmt.open_re, text, lo, reasoning[0])
        closed = fmt.close_after(opened).search(text, reasoning[1], content) if opened else None
        if closed is None:
            raise RecordError(f"cannot find the delimiters the chat template of {self.name} put around the reasoning")
        return opened.start(), closed.end()


def _previous_end(found: dict, i: int) -> int:
    ends = [m.end() for (kind, j), m in found.items() if j < i]
    return max(ends, default=0)
