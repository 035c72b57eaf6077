"""``tp generate``: reasoning and answer in two phases, with thinking budgets, over any backend.

``Generator(backend, options)(records)`` is a batch function for the streaming layer. Every
sample of every record in the batch moves through the phases together, one backend call per
step:

1. think: from a prompt that ends inside an open reasoning block, generate until the family's
   close delimiter. A close before ``min_think_tokens`` is dropped and ``wait_text`` appended
   (at most ``max_waits`` times); reaching ``max_think_tokens`` cuts the reasoning there and
   appends ``budget_end_text`` and the close (s1's budget forcing).
2. answer: prompt + reasoning + close, continued by the adapter in hybrid mode (the model
   that wrote the reasoning otherwise).

The family's block (its opening, its close, the text around them) is the one the chat template
taught ``detect``, as for tp mask and tp steer: Seed-OSS ``<seed:think>``…``</seed:think>``,
Gemma-4's channel, ``--think-tags`` on a template with none. Only without any template is it
learned from the prompt's own opening. A prompt that opens no block goes straight to the answer
phase, except with ``hybrid``: then it is a record error, never a quiet single phase.

The reasoning and answer are the ones the phases produced (``raw`` is everything generated
after the prompt, inserted texts included), with the statuses of the ``tp parse`` rule, so a
sample whose reasoning never closed is reported, never dropped; only the single phase of a
prompt that opened no block is parsed (the model may open a block itself). A sample whose
prompt and output fill the model's context ends there alone ("context"), the rest of the batch
goes on.

``Generator.cost`` counts, per phase, the engine calls and the prompt tokens prefilled and
tokens decoded: hybrid decoding prefills prompt + reasoning twice, once per model.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backends import CONTEXT, Backend, Completion, Sampling
from .delimiters import Delimiters
from .detect import default_delimiters
from .errors import RecordError, UsageError
from .formats import EMPTY, VALID, TagFormat, prompt_opens_reasoning
from .formats import TRUNCATED as UNCLOSED  # the parse status; TRUNCATED below is a think_finish
from .parse import OWNED_FIELDS, ParseOptions, Parser
from .template import Template

AT_LIMIT = Completion("", 0, "length")  # what a sample already at its think limit gets
# think_finish values: how the reasoning ended (CONTEXT: prompt and reasoning filled the model's context).
CLOSED, BUDGET, ENDED, TRUNCATED = "closed", "budget", "ended", "truncated"
COUNT_FIELDS = ("think_tokens", "answer_tokens", "think_finish", "answer_finish", "waits")
PROMPT_FIELDS = ("think_prompt", "answer_prompt")


@dataclass(frozen=True)
class GenerateOptions:
    hybrid: bool = False  # phase 1 by the base model, phase 2 by the adapter
    n: int = 1
    think: Sampling = Sampling()
    answer: Sampling = Sampling()
    max_think_tokens: int | None = None
    # Without --max-think-tokens the engine still needs a limit; reaching it is truncation, not a budget cut.
    unbudgeted_think_limit: int = 32768
    min_think_tokens: int = 0
    max_waits: int = 1
    max_answer_tokens: int = 1024
    budget_end_text: str = ""
    wait_text: str = "Wait"
    save_prompts: bool = False

    def __post_init__(self):
        if self.max_think_tokens is not None and self.min_think_tokens > self.max_think_tokens:
            raise UsageError("--min-think-tokens is larger than --max-think-tokens")


@dataclass
class PhaseCost:
    """What one phase asked of the engine, over a run."""

    calls: int = 0  # backend calls (the think phase makes one more per wait round)
    prompts: int = 0
    prefilled: int = 0  # prompt tokens the engine read (all of them: the transformers backend caches nothing)
    decoded: int = 0  # tokens it generated

    def add(self, done: list[Completion]) -> None:
        self.calls += 1
        self.prompts += len(done)
        self.prefilled += sum(c.prompt_tokens for c in done)
        self.decoded += sum(c.tokens for c in done)


@dataclass
class Rollout:
    """One sample's way through the phases: its prompt, what each phase wrote, how each ended."""

    prompt: str
    delimiters: Delimiters | None  # the family's block, which the prompt opens; None: it opens none
    format: TagFormat | None = None  # the format of that block
    think: str = ""  # generated reasoning with the inserted wait and budget texts
    think_tokens: int = 0  # tokens the model generated in phase 1 (inserted texts not counted)
    think_finish: str | None = None
    waits: int = 0
    closing: str = ""  # the close as the answer phase was given it
    answer: str = ""
    answer_tokens: int | None = None
    answer_finish: str | None = None

    @property
    def answer_prompt(self) -> str:
        return self.prompt + self.think + self.closing


class Generator:
    """Generates for records with one backend and one set of options."""

    def __init__(self, backend: Backend, options: GenerateOptions, prompter=None, template: Template | None = None):
        self.backend, self.options = backend, options
        self.prompter = prompter  # builds the prompt of a record without one (a Steerer)
        # The learned template names the family's block; the prompter's is the one its prompts open.
        self.template = template if template is not None else getattr(prompter, "template", None)
        self.parser = Parser(ParseOptions(field="raw"))
        fields = ("raw",) + OWNED_FIELDS + COUNT_FIELDS
        self.appended_fields = fields + PROMPT_FIELDS if options.save_prompts else fields
        self.cost = {"think": PhaseCost(), "answer": PhaseCost()}

    def __call__(self, records: list[dict]) -> list[dict | RecordError]:
        out: list[dict | RecordError] = []
        samples: list[Rollout] = []
        for record in records:
            try:
                prompt = self._prompt(record)
                fmt, delimiters = self._block(prompt)
            except RecordError as e:
                out.append(e)
                continue
            samples += [Rollout(prompt, delimiters, fmt) for _ in range(self.options.n)]
            out.append(record)
        self.think(samples)
        self.answer(samples)
        done = iter(samples)
        for record in out:
            if isinstance(record, dict):
                self._fill(record, [next(done) for _ in range(self.options.n)])
        return out

    def _block(self, prompt: str) -> tuple[TagFormat | None, Delimiters | None]:
        """The format and the family's block the prompt opens (None, None: it opens none)."""
        t = self.template
        if t is not None and t.format is not None:
            found = (t.format, t.delimiters) if t.format.opens(prompt) else (None, None)
        else:  # no template to learn from: the prompt's own opening, in its format's rendered form
            fmt = prompt_opens_reasoning(prompt)
            found = (fmt, default_delimiters(fmt)) if fmt is not None else (None, None)
        if found[0] is None and self.options.hybrid:
            opening = f" ({t.delimiters.open} for {t.name})" if t is not None and t.delimiters else ""
            raise RecordError(
                f"--hybrid: the prompt opens no reasoning block{opening}, so the base model would "
                "write nothing; build it open (tp steer --reasoning open)"
            )
        return found

    def _prompt(self, record: dict) -> str:
        prompt = record.get("prompt")
        if isinstance(prompt, str):
            return prompt
        if self.prompter is None:
            raise RecordError("no 'prompt' string, and no tokenizer to build one (give --tokenizer)")
        return self.prompter.prompt(record)

    def think(self, samples: list[Rollout]) -> None:
        """Phase 1 for every sample whose prompt opens a block, batched, until each has ended."""
        o = self.options
        limit = o.max_think_tokens if o.max_think_tokens is not None else o.unbudgeted_think_limit
        active = [s for s in samples if s.delimiters is not None]
        while active:
            # Every family in the batch stops on its own close; a close of another family is plain text to it.
            stops = sorted({s.delimiters.close for s in active})
            asked = [s for s in active if s.think_tokens < limit]  # an engine cannot generate 0 tokens
            done = (
                self.backend.complete(
                    [s.prompt + s.think for s in asked],
                    [limit - s.think_tokens for s in asked],
                    adapter=self._adapter(phase=1),
                    stop=stops,
                    sampling=o.think,
                )
                if asked
                else []
            )
            if asked:
                self.cost["think"].add(done)
            completions = dict(zip(map(id, asked), done))
            still = []
            for s in active:
                c = completions.get(id(s), AT_LIMIT)
                s.think += c.text
                s.think_tokens += c.tokens
                closed = c.stopped_at == s.delimiters.close
                if closed and s.think_tokens < o.min_think_tokens and s.waits < o.max_waits:
                    s.think += o.wait_text  # the close is dropped: think on
                    s.waits += 1
                    still.append(s)
                elif closed:
                    s.think_finish, s.closing = CLOSED, s.delimiters.close + s.delimiters.after_close
                elif c.finish == CONTEXT:  # no room for the close, let alone an answer
                    s.think_finish = CONTEXT
                elif c.finish == "length" and o.max_think_tokens is not None:
                    s.think += o.budget_end_text
                    s.think_finish, s.closing = BUDGET, s.delimiters.closing()
                else:  # the model ended its turn inside the block, or ran into the engine's limit
                    s.think_finish = ENDED if c.finish == "stop" else TRUNCATED
            active = still

    def answer(self, samples: list[Rollout]) -> None:
        """Phase 2 for every sample whose reasoning was closed (or that had none), batched."""
        ready = [s for s in samples if s.delimiters is None or s.think_finish in (CLOSED, BUDGET)]
        if not ready:
            return
        done = self.backend.complete(
            [s.answer_prompt for s in ready],
            [self.options.max_answer_tokens] * len(ready),
            adapter=self._adapter(phase=2),
            stop=[],
            sampling=self.options.answer,
        )
        self.cost["answer"].add(done)
        for s, c in zip(ready, done):
            s.answer, s.answer_tokens, s.answer_finish = c.text, c.tokens, c.finish

    def _adapter(self, phase: int) -> bool:
        return self.backend.has_adapter and (phase == 2 or not self.options.hybrid)

    def _fill(self, record: dict, samples: list[Rollout]) -> None:
        one = self.options.n == 1
        values = {
            "raw": [s.think + s.closing + s.answer for s in samples],
            "think_tokens": [s.think_tokens if s.delimiters else None for s in samples],
            "answer_tokens": [s.answer_tokens for s in samples],
            "think_finish": [s.think_finish for s in samples],
            "answer_finish": [s.answer_finish for s in samples],
            "waits": [s.waits for s in samples],
        }
        if self.options.save_prompts:
            values["think_prompt"] = [s.prompt if s.delimiters else None for s in samples]
            values["answer_prompt"] = [s.answer_prompt if s.answer_finish else None for s in samples]
        splits = [self._split(s, raw) for s, raw in zip(samples, values["raw"])]
        for key, column in zip(OWNED_FIELDS, zip(*splits)):
            record[key] = column[0] if one else list(column)
        for key, value in values.items():
            record[key] = value[0] if one else value

    def _split(self, s: Rollout, raw: str) -> tuple:
        """reasoning, answer, status, reasoning_format, reasoning_tag, by the tp parse rule: from the
        phases where the prompt opened the block; parsed where it did not (the model may open one)."""
        if s.delimiters is None:
            split = self.parser.parse_record({"raw": raw, "prompt": s.prompt})
            return tuple(split[key] for key in OWNED_FIELDS)
        reasoning = s.think.strip()
        if s.think_finish not in (CLOSED, BUDGET):  # never closed: no answer
            return reasoning, "", UNCLOSED, s.format.name, None
        return reasoning, s.answer.strip(), VALID if reasoning else EMPTY, s.format.name, s.delimiters.close
