"""Chat templates as ``tp mask`` and ``tp steer`` see them.

``detect`` learns a template's reasoning style by rendering probe conversations, never by
reading its source:

- **native**: the template renders a message field (``reasoning_content``, ``thinking``) in its
  own delimiters (Qwen3);
- **harmony**: the same, in harmony's analysis channel (gpt-oss);
- **prefixed**: the generation prompt ends inside an opened block (DeepSeek-R1-Distill, QwQ);
- **inline**: reasoning is written as ``<think>`` tags in the content, single tokens (SmolLM3);
- **bracket**: inline ``[THINK]…[/THINK]``, single tokens (Magistral);
- **none**: no reasoning field is rendered and no delimiter is a token (Llama-3.1, Gemma-3, DeepSeek-V3);

and whether it drops reasoning from history turns (Qwen3, QwQ, gpt-oss) or from every turn
(DeepSeek-R1-Distill cuts each assistant message to the text after ``</think>``).

``Template.render`` renders a conversation once, in transformers' sandboxed Jinja environment,
with each assistant text replaced by a unique marker; the markers say where every text landed,
whatever glue the template put around it, and the real texts are spliced in. So the spans of
think and answer come from the rendered structure, never from searching for a text that may
also occur in the prompt.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import RecordError, UsageError
from .formats import FORMATS, TagFormat, prompt_opens_reasoning
from .records import Message

STYLES = ("inline", "native", "prefixed", "bracket", "harmony", "none")
# Assistant texts are rendered as markers: private-use characters and a per-process nonce,
# which no template trims and no text holds.
_NONCE = uuid.uuid4().hex[:8]
_MARKER = re.compile(f"\ue000{_NONCE}(?P<kind>[ar])(?P<index>\\d+)\ue001")


def _mark(kind: str, i: int) -> str:
    return f"\ue000{_NONCE}{kind}{i}\ue001"

NATIVE_FIELDS = ("reasoning_content", "thinking")  # the names chat templates read reasoning from


@dataclass(frozen=True)
class Delimiters:
    """A reasoning block in a family's own form: ``open`` + ``after_open`` + reasoning +
    ``before_close`` + ``close`` + ``after_close``, then the answer."""

    open: str
    close: str
    after_open: str = ""
    before_close: str = ""
    after_close: str = ""

    def block(self, reasoning: str) -> str:
        return self.opening() + reasoning + self.closing()

    def opening(self) -> str:
        return self.open + self.after_open

    def closing(self) -> str:
        return self.before_close + self.close + self.after_close


# Qwen3, DeepSeek-R1 and QwQ write `<think>\nR\n</think>\n\nA` (empty: `<think>\n\n</think>\n\n`);
# Magistral writes `[THINK]R[/THINK]A`; harmony closes analysis and opens the final channel.
DELIMITERS = {
    "think": Delimiters("<think>", "</think>", "\n", "\n", "\n\n"),
    "bracket": Delimiters("[THINK]", "[/THINK]"),
    "harmony": Delimiters("<|channel|>analysis<|message|>", "<|end|>",
                          after_close="<|start|>assistant<|channel|>final<|message|>"),
}


@dataclass(frozen=True)
class Rendered:
    """A conversation rendered to text, with the character spans of what is trained."""

    text: str
    think: list[tuple[int, int]]  # reasoning blocks of trained turns, delimiters included
    answer: list[tuple[int, int]]  # the rest of each trained turn's completion, end-of-turn token included
    reinserted: bool = False  # the template cut the last turn's reasoning and tp put it back
    dropped: int = 0  # trained history turns whose reasoning the template leaves out
    inserted: int = 0  # empty blocks tp added to trained turns that had no reasoning


@dataclass(frozen=True)
class Template:
    """A tokenizer's chat template and what ``detect`` learned about it."""

    tokenizer: Any
    name: str
    kwargs: dict = field(default_factory=dict)  # passed to every render (enable_thinking, reasoning_effort, …)
    style: str = "none"
    format: TagFormat | None = None  # the registry's format of the template's blocks
    delimiters: Delimiters | None = None
    reasoning_field: str | None = None  # native and harmony: the message field the template renders
    generation_prompt: str = ""  # what add_generation_prompt appends
    header: str = ""  # the start of an assistant turn: the generation prompt up to any reasoning delimiter
    drops: str = "none"  # "none", "history" or "all": which turns' reasoning the template leaves out
    end_of_turn: re.Pattern | None = None  # the tokenizer's special tokens, one of which may end a turn

    # ------------------------------------------------------------------------ rendering

    def apply(self, chat: list[dict], add_generation_prompt: bool = False) -> str:
        """The template's text for ``chat``; a template error is a one-line ``RecordError``."""
        try:
            return self.tokenizer.apply_chat_template(
                chat, tokenize=False, add_generation_prompt=add_generation_prompt, **self.kwargs
            )
        except Exception as e:  # jinja raises TemplateError, templates raise anything via raise_exception
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RecordError(f"the chat template of {self.name} failed: {first}") from None

    def prompt(self, messages: list[Message]) -> str:
        """The generation prompt for ``messages`` (their reasoning as the template renders history)."""
        chat, _ = self._chat(messages, {m for m, msg in enumerate(messages) if msg.reasoning is not None}, with_markers=False)
        return self.apply(chat, add_generation_prompt=True)

    def render(self, messages: list[Message], train_all: bool = False, empty_think: bool = True,
               verify: bool = False) -> Rendered:
        """``messages`` in training form (no generation prompt) with the spans of the trained turns:
        the last assistant turn, or every one with ``train_all``. ``empty_think`` gives trained turns
        without reasoning an empty block, as at inference. ``verify`` also renders the real texts and
        checks that the template treats them as it treated the markers."""
        assistant = [i for i, m in enumerate(messages) if m.role == "assistant"]
        trained = set(assistant if train_all else assistant[-1:])
        with_block = {i for i in assistant if messages[i].reasoning is not None}
        inserted = {i for i in trained - with_block if empty_think and self.delimiters is not None}
        chat, texts = self._chat(messages, with_block | inserted)
        marked = self.apply(chat)
        found = self._find(marked)
        if verify:
            self._verify(chat, texts, marked, found)
        reinserted, dropped = False, 0
        for i in sorted(trained & (with_block | inserted)):
            if ("r", i) in found:
                continue
            if i != assistant[-1]:
                dropped += i in with_block  # the template's rule for history turns; counted, reported
            elif self.reasoning_field is not None:
                raise RecordError(f"the chat template of {self.name} leaves out the reasoning of the last assistant turn")
            else:
                marked = self._reinsert(marked, found, i)
                found, reinserted = self._find(marked), True
        text, spans = self._splice(marked, found, texts)
        think, answer = self._turn_spans(text, spans, assistant, trained)
        return Rendered(text, think, answer, reinserted, dropped, len(inserted))

    def _chat(self, messages: list[Message], with_block: set[int], with_markers: bool = True):
        """The template's messages, with markers in place of assistant texts; and each marker's text."""
        chat, texts = [], {}
        for i, m in enumerate(messages):
            if m.role != "assistant":
                chat.append({"role": m.role, "content": m.content})
                continue
            if i in with_block and self.delimiters is None:
                raise RecordError(f"message {i} has reasoning, but the chat template of {self.name} cannot render "
                                  "any (no reasoning field is rendered and no reasoning delimiter is a token)")
            content, reasoning = m.content, m.reasoning or ""
            if with_markers:
                texts[content := _mark("a", i)] = m.content
                texts[reasoning := _mark("r", i)] = m.reasoning or ""
            if i not in with_block:
                chat.append({"role": "assistant", "content": content})
            elif self.reasoning_field is not None:
                chat.append({"role": "assistant", "content": content, self.reasoning_field: reasoning})
            else:
                chat.append({"role": "assistant", "content": self.delimiters.block(reasoning) + content})
        return chat, texts

    def _find(self, marked: str) -> dict[tuple[str, int], re.Match]:
        found = {}
        for m in _MARKER.finditer(marked):
            key = (m["kind"], int(m["index"]))
            if key in found:
                raise RecordError(f"the chat template of {self.name} renders message {key[1]} twice")
            found[key] = m
        return found

    def _reinsert(self, marked: str, found: dict, i: int) -> str:
        """Put back the block the template cut from the last turn (DeepSeek-R1-Distill keeps only
        the text after ``</think>``): the turn's completion becomes what tp composed for it."""
        content = found[("a", i)].start()
        start = self._completion_start(marked, _previous_end(found, i), content)
        composed = self.delimiters.block(_mark("r", i))
        kept = marked[start:content]
        if not composed.endswith(kept):
            raise RecordError(f"the chat template of {self.name} cuts the reasoning of message {i} in a way tp cannot undo")
        return marked[:start] + composed + marked[content:]

    def _splice(self, marked: str, found: dict, texts: dict[str, str]):
        """The real text, and where each marked text ended up in it."""
        pieces, spans, pos, shift = [], {}, 0, 0
        for key, m in sorted(found.items(), key=lambda item: item[1].start()):
            real = texts[m.group(0)]
            pieces += (marked[pos:m.start()], real)
            start = m.start() + shift
            spans[key] = (start, start + len(real))
            shift += len(real) - (m.end() - m.start())
            pos = m.end()
        pieces.append(marked[pos:])
        return "".join(pieces), spans

    def _verify(self, chat: list[dict], texts: dict[str, str], marked: str, found: dict) -> None:
        real_chat = [{k: self._unmark(v, texts) for k, v in message.items()} for message in chat]
        real = self.apply(real_chat)
        spliced, _ = self._splice(marked, found, texts)
        if real != spliced:
            at = next((k for k, (x, y) in enumerate(zip(real, spliced)) if x != y), min(len(real), len(spliced)))
            raise RecordError(f"the chat template of {self.name} rewrites this record's assistant text (at character "
                              f"{at}: {real[at:at + 30]!r}), so tp cannot tell where its spans are")

    def _unmark(self, value: Any, texts: dict[str, str]) -> Any:
        if not isinstance(value, str) or "\ue000" not in value:
            return value
        return _MARKER.sub(lambda m: texts[m.group(0)], value)

    def _turn_spans(self, text: str, spans: dict, assistant: list[int], trained: set[int]):
        think, answer = [], []
        for n, i in enumerate(assistant):
            if i not in trained:
                continue
            if ("a", i) not in spans:
                raise RecordError(f"the chat template of {self.name} leaves out the content of message {i}")
            content_start, content_end = spans[("a", i)]
            lo = spans.get(("a", assistant[n - 1]), (0, 0))[1] if n else 0
            first = spans[("r", i)][0] if ("r", i) in spans else content_start
            start = self._completion_start(text, lo, first)
            block = self._block(text, lo, start, content_start, spans.get(("r", i)))
            if block is not None:
                think.append(block)
                start = min(start, block[0])
            end = content_end
            if self.end_of_turn is not None and (eot := self.end_of_turn.match(text, content_end)):
                end = eot.end()  # the model must learn to stop: its end-of-turn token is trained with the answer
            answer.append((block[1] if block else start, end))
        return think, answer

    def _completion_start(self, text: str, lo: int, hi: int) -> int:
        """Where the model's own text of a turn begins: after the last turn header before ``hi``."""
        if not self.header:
            return hi
        k = text.rfind(self.header, lo, hi)
        return hi if k < 0 else k + len(self.header)

    def _block(self, text: str, lo: int, start: int, content: int, reasoning: tuple[int, int] | None):
        """The reasoning block of a turn, delimiters included: around its reasoning, or one the
        template wrote itself (Qwen3's empty block) between the turn header and the content.
        Only template glue is searched, never a message's text: the opening delimiter is the
        last one before the reasoning (after the previous turn, ``lo``, for templates without a
        turn header), an inserted block must lie after the turn header (``start``)."""
        if self.format is None:
            return None
        if reasoning is None:
            opened = self.format.open_re.search(text, start, content)
            after = opened.end() if opened else 0
        else:
            opened = _last(self.format.open_re, text, lo, reasoning[0])
            after = reasoning[1]
        closed = self.format.close_after(opened).search(text, after, content) if opened else None
        if closed is None:
            if reasoning is not None:
                raise RecordError(f"cannot find the delimiters the chat template of {self.name} put around the reasoning")
            return None
        return opened.start(), closed.end()


def _previous_end(found: dict, i: int) -> int:
    ends = [m.end() for (kind, j), m in found.items() if j < i]
    return max(ends, default=0)


def _last(pattern: re.Pattern, text: str, lo: int, hi: int):
    last = None
    for last in pattern.finditer(text, lo, hi):
        pass
    return last


# ---------------------------------------------------------------------------- detection


def detect(tokenizer: Any, template_kwargs: dict | None = None) -> Template:
    """The reasoning style of ``tokenizer``'s chat template, learned by rendering probes."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("the tokenizer has no chat template")
    name = os.path.basename(str(getattr(tokenizer, "name_or_path", "") or "").rstrip("/")) or "the tokenizer"
    probe = Template(tokenizer, name, dict(template_kwargs or {}), end_of_turn=_end_of_turn_pattern(tokenizer))
    user = [{"role": "user", "content": "What is 2 + 2?"}]
    try:
        bare, generation = probe.apply(user), probe.apply(user, add_generation_prompt=True)
    except RecordError as e:
        raise UsageError(str(e)) from None
    suffix = generation[len(os.path.commonprefix([bare, generation])):]
    style, fmt, field_name = _style(probe, tokenizer, suffix)
    t = replace(probe, style=style, format=fmt, delimiters=DELIMITERS[fmt.name] if fmt else None,
                reasoning_field=field_name, generation_prompt=suffix, header=_header(suffix))
    return replace(t, drops=_drops(t) if fmt else "none")


def _style(probe: Template, tokenizer: Any, suffix: str) -> tuple[str, TagFormat | None, str | None]:
    for name in NATIVE_FIELDS:
        reasoning = _mark("r", 1)
        text = _probe(probe, [{"role": "assistant", "content": _mark("a", 1), name: reasoning}])
        if reasoning in text:
            fmt = prompt_opens_reasoning(text[: text.index(reasoning)])
            if fmt is None:
                raise UsageError(f"the chat template of {probe.name} renders {name!r} without reasoning delimiters tp knows")
            return ("harmony" if fmt.name == "harmony" else "native"), fmt, name
    opened = prompt_opens_reasoning(suffix)
    if opened is not None and opened.name in DELIMITERS:
        return "prefixed", opened, None
    for name in ("think", "bracket"):
        d = DELIMITERS[name]
        if _single_token(tokenizer, d.open) and _single_token(tokenizer, d.close):
            return ("bracket" if name == "bracket" else "inline"), FORMATS[name], None
    return "none", None, None


def _drops(t: Template) -> str:
    """Which turns' reasoning the template leaves out: none, history turns, or all of them."""
    def turn(i: int) -> dict:
        reasoning, content = _mark("r", i), _mark("a", i)
        if t.reasoning_field:
            return {"role": "assistant", "content": content, t.reasoning_field: reasoning}
        return {"role": "assistant", "content": t.delimiters.block(reasoning) + content}

    if _mark("r", 1) not in _probe(t, [turn(1)]):
        return "all"
    two = _probe(t, [turn(1), {"role": "user", "content": "And 3 + 3?"}, turn(3)])
    return "history" if _mark("r", 1) not in two else "none"


def _probe(t: Template, turns: list[dict]) -> str:
    try:
        return t.apply([{"role": "user", "content": "What is 2 + 2?"}, *turns])
    except RecordError as e:
        raise UsageError(str(e)) from None


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
    special = sorted({t.content for t in decoder.values() if getattr(t, "special", False) and t.content}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, special))) if special else None

