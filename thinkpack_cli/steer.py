"""Inference prompts that steer a model into (or out of) reasoning, in the family's own hand: ``tp steer``.

``Steerer(template, options)(records)`` is a pure batch function: each record gets a
``prompt`` (and ``prompt_token_ids`` with ``token_ids``) ready for vLLM or any engine. The
prompt is the chat template's generation prompt for the record's messages (a trailing
assistant turn, the reference answer, is left out; the record's ``tools`` are rendered), then:

1. ``reasoning``: ``open`` makes it end inside an open block in the family's own delimiters
   (Seed-OSS ``<seed:think>``, GLM's ``<think>`` without a newline; a template closed by default,
   DeepSeek-V3.1 or Qwen3.5, is rendered with its own switch on; a prompt that already opens one
   is left byte-for-byte); ``none`` ends it with the family's own closed block where it has one
   (Qwen3's ``<think>\\n\\n</think>\\n\\n``, Kimi's ``<think></think>``; the switch off where there
   is one), else removes the block a prefixed template opened and opens the answer where the
   family has an opening for it (gpt-oss's final channel); ``native`` leaves the template's
   text alone.
2. ``prefix``: text the model continues; a preset or any text.
3. ``close``: closes the block after the prefix; ``response_prefix`` seeds the answer after
   a closed block (closing an open one first; gpt-oss's goes in its final channel).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RecordError, UsageError
from .formats.base import last_match
from .records import Fields, conversation, tools
from .template import Template
from .tokenizer import token_ids

REASONING = ("open", "none", "native")
# name: (text, whether the preset closes the block)
PRESETS = {
    "brief": ("Okay, ", False),
    "steps": ("Okay, let me think this through step by step.", False),
    "concise": ("Okay, I'll keep my thinking concise and make sure to give a final answer.", False),
    "no-think": ("Okay, I think I have finished thinking.", True),  # AutoThink's closed block
    "ellipsis": ("...", False),  # left open: the model decides whether to think
}


@dataclass(frozen=True)
class SteerOptions:
    reasoning: str | None = None  # None: open when a prefix is given, otherwise native
    prefix: str | None = None  # a preset name or the text itself
    close: bool = False
    response_prefix: str | None = None
    token_ids: bool = False
    fields: Fields = Fields()


class Steerer:
    """Builds steered prompts for one template and one set of options."""

    def __init__(self, template: Template, options: SteerOptions = SteerOptions()):
        reasoning = options.reasoning or ("open" if options.prefix else "native")
        if reasoning not in REASONING:
            raise UsageError(f"--reasoning must be one of {', '.join(REASONING)}")
        text, closes = PRESETS.get(options.prefix, (options.prefix or "", False))
        self.template, self.options, self.reasoning = template, options, reasoning
        self.prefix, self.close = text, options.close or closes
        # Read by the streaming layer: the only fields steer adds, so it appends them to each JSON line.
        self.appended_fields = ("prompt", "prompt_token_ids") if options.token_ids else ("prompt",)
        if reasoning == "none" and self.close:
            raise UsageError("--reasoning none opens no block, so there is none to close (--close, --prefix no-think)")
        switch = template.switch is not None and template.switch[0] not in template.kwargs
        # Which render of the template: its own switch on to open, off to close, else as the user set it.
        self.thinking = {"open": True, "none": False}.get(reasoning) if switch else None
        generation = template.thinking_prompt if self.thinking else template.generation_prompt
        if reasoning == "open" and generation != template.header and not self._opens(generation):
            raise UsageError(
                f"the generation prompt of {template.name} already holds a closed reasoning block "
                "(thinking turned off in --template-kwargs?); use --reasoning native or none"
            )

    def __call__(self, records: list[dict]) -> list[dict | RecordError]:
        out: list[dict | RecordError] = []
        for record in records:
            try:
                record["prompt"] = self.prompt(record)
                out.append(record)
            except RecordError as e:
                out.append(e)
        if self.options.token_ids:
            done = [r for r in out if isinstance(r, dict)]
            for record, ids in zip(done, token_ids(self.template.tokenizer, [r["prompt"] for r in done])):
                record["prompt_token_ids"] = ids
        return out

    def prompt(self, record: dict) -> str:
        messages = conversation(record, self.options.fields, need_answer=False)
        while messages and messages[-1].role == "assistant":
            messages.pop()  # the reference answer: the model is to write it
        if not messages:
            raise RecordError("no messages before the assistant's answer")
        return self.steer(self.template.prompt(messages, tools(record), self.thinking))

    def steer(self, prompt: str) -> str:
        """``prompt`` (the template's generation prompt) steered as the options say."""
        t = self.template
        d = t.delimiters
        is_open = self._opens(prompt)
        if self.reasoning == "open" and not is_open:
            prompt, is_open = prompt + d.opening(), True
        answering = False  # the answer's own opening is written (harmony's final channel)
        if self.reasoning == "none":
            if is_open:
                cut = _last_open(t, prompt)
                if prompt[cut.end() :].strip():
                    raise RecordError(
                        "--reasoning none: the prompt ends inside a reasoning block that already has text"
                    )
                prompt, is_open = prompt[: cut.start()], False
            if t.own_empty and not self._closed(prompt):
                prompt += t.empty_block
            elif not t.own_empty and d is not None:
                # No closed block of its own: where a family opens its answer (gpt-oss's final channel), that says none.
                opening = _answer_opening(t)
                prompt, answering = prompt + opening, bool(opening)
        prompt += self.prefix
        if self.close or (self.options.response_prefix is not None and is_open):
            if not is_open:
                raise RecordError("--close: the prompt has no open reasoning block to close")
            prompt += d.closing()
        elif self.options.response_prefix is not None and d is not None and not answering and not self._closed(prompt):
            prompt += _answer_opening(t)  # gpt-oss: the answer is the final channel
        return prompt + (self.options.response_prefix or "")

    def _opens(self, prompt: str) -> bool:
        fmt = self.template.format
        return fmt is not None and fmt.opens(prompt)

    def _closed(self, prompt: str) -> bool:
        """Whether the prompt's generation tail already holds a closed block (V3.1's ``</think>``)."""
        t = self.template
        k = prompt.rfind(t.header) + len(t.header) if t.header else len(prompt)
        return t.format is not None and bool(t.format.close_re.search(prompt, k))


def _answer_opening(t: Template) -> str:
    """What a family writes after its turn header to start the answer without reasoning (harmony's
    ``<|channel|>final<|message|>``; nothing for a ``<think>`` family)."""
    after = t.delimiters.after_close
    return after[len(t.header) :] if t.header and after.startswith(t.header) else ""


def _last_open(template: Template, prompt: str):
    return last_match(template.format.open_re, prompt)
