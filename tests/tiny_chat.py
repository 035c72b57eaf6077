"""A small byte-level BPE tokenizer, trained in a blink, and chat templates written for the tests:
tp mask and tp steer tested without ../shared or any download.

The tokenizer runs BPE over the whole text (no pre-tokenizer split), so merges cross word and
line boundaries, as a straddling-token test needs; the chat markers and ``<think>``/``</think>``
are single added tokens, as in Qwen3.
"""

from __future__ import annotations

import os
from functools import cache

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SPECIAL = ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CORPUS = [
    "<|im_start|>assistant\nThe answer is 4.<|im_end|>\n",
    "<|im_start|>user\nWhat is 2 + 2? Please think.<|im_end|>\n",
    "Let me add two and two: that makes four. Okay, 😀 done.",
] * 50

_TURN = "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}"
_GENERATION = "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

# ChatML that writes content as it is: reasoning goes inline, as <think> tags.
INLINE = "{%- for m in messages %}" + _TURN + "{%- endfor %}" + _GENERATION

# Qwen3's behaviour: renders reasoning_content in its own block, only after the last user message.
NATIVE = (
    "{%- set ns = namespace(last=-1) %}"
    "{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last = loop.index0 %}{%- endif %}{%- endfor %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.reasoning_content is defined and loop.index0 > ns.last %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + m.reasoning_content + '\\n</think>\\n\\n' + m.content + '<|im_end|>\\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}" + _GENERATION
)

# DeepSeek-R1-Distill's behaviour: the generation prompt opens the block, and every assistant
# message, the last one included, is cut to the text after </think>.
PREFIXED = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' + m.content.split('</think>')[-1] + '<|im_end|>\\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}"
)

# SmolLM3's behaviour: content as it is, and a thinking switch whose off form is an empty block
# at the end of the generation prompt.
HYBRID = (
    "{%- for m in messages %}" + _TURN + "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and not enable_thinking %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

# GLM-4.5's hand: reasoning_content as `<think>R</think>\n` with no newline inside, and a closed
# empty block in the generation prompt when thinking is off.
GLM = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.reasoning_content is defined %}"
    "{{- '<|im_start|>assistant\\n<think>' + m.reasoning_content + '</think>\\n' + m.content + '<|im_end|>\\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and not enable_thinking %}{{- '<think></think>\\n' }}{%- endif %}"
    "{%- endif %}"
)

# EXAONE-4's behaviour: by default (skip_think) no reasoning is rendered and the generation prompt
# holds a closed empty block; skip_think=False renders reasoning_content and opens the block.
EXAONE = (
    "{%- set skip = skip_think if skip_think is defined else true %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.reasoning_content is defined and not skip %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + m.reasoning_content + '\\n</think>\\n\\n' + m.content + '<|im_end|>\\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if skip %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- else %}{{- '<think>\\n' }}{%- endif %}"
    "{%- endif %}"
)

# Seed-OSS's hand: reasoning_content as `<seed:think>R</seed:think>\n`, a generation prompt that opens nothing.
SEED = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.reasoning_content is defined %}"
    "{{- '<|im_start|>assistant\n<seed:think>' + m.reasoning_content + '</seed:think>\n' + m.content + '<|im_end|>\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}" + _GENERATION
)

# Gemma-4's hand: reasoning_content in a thought channel, `<|channel>thought\nR\n<channel|>`, and with
# thinking off (its default) the generation prompt holds that channel closed and empty.
GEMMA4 = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.reasoning_content is defined %}"
    "{{- '<|im_start|>assistant\n<|channel>thought\n' + m.reasoning_content + '\n<channel|>' + m.content + '<|im_end|>\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}"
    "{%- if not enable_thinking | default(false) %}{{- '<|channel>thought\n<channel|>' }}{%- endif %}"
    "{%- endif %}"
)
# The delimiters of those families, and --think-tags ones: single tokens, as in the real vocabularies.
FAMILY_TOKENS = ["<seed:think>", "</seed:think>", "<|channel>", "<channel|>", "<reasoning>", "</reasoning>"]

# A template that rewrites what the assistant says: tp must notice, not mislabel.
SHOUTING = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' + m.content | upper + '<|im_end|>\\n' }}"
    "{%- else %}" + _TURN + "{%- endif %}"
    "{%- endfor %}" + _GENERATION
)


@cache
def _backend(with_think_tokens: bool) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    special = SPECIAL if with_think_tokens else SPECIAL[:2]
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=special,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def tokenizer(template: str, think_tokens: bool = True, family_tokens: bool = False):
    """A transformers fast tokenizer with ``template`` as its chat template (``family_tokens``: with
    ``FAMILY_TOKENS`` added)."""
    from transformers import PreTrainedTokenizerFast

    # A copy of the trained tokenizer: transformers may change its settings.
    backend = Tokenizer.from_str(_backend(think_tokens).to_str())
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, chat_template=template, eos_token="<|im_end|>", name_or_path="tiny"
    )
    if family_tokens:
        tok.add_tokens(FAMILY_TOKENS)
    return tok
