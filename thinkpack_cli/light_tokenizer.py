"""A tokenizer folder served without importing transformers, where that gives transformers' own answers.

Importing transformers and ``AutoTokenizer.from_pretrained`` cost ``tp mask`` ~2.5 s of start-up;
``tokenizers.Tokenizer.from_file`` and ``jinja2`` ~0.4 s. ``load(folder)`` builds the Rust tokenizer as
transformers would from the folder and renders its chat template in a Jinja sandbox set up as
transformers sets up its own, or returns None, and the caller loads ``AutoTokenizer``.

What the folder holds decides, never a model name: it is served when transformers would load its
``tokenizer.json`` through ``TokenizersBackend`` as written (``tokenizer_class`` ``PreTrainedTokenizerFast``
or ``TokenizersBackend``, or ``LlamaTokenizer`` over a ByteLevel file) or through ``Qwen2Tokenizer`` or
``GemmaTokenizer``, whose rebuild of the pipeline (their own pre-tokenizer, normalizer, decoder, BPE
options and default special tokens) is redone here;
with ``tokenizer_config.json`` beside it and no ``config.json`` (with one, AutoTokenizer picks the class
by model type from its own tables), no remote code, no padding or truncation in the file, and every
added token on the id the config gives it. Anything else (sentencepiece or tiktoken files only, other
classes, a hub name, a transformers release other than the one reproduced) falls back.
tests/test_light_tokenizer.py compares both paths on every folder of ../shared/tokenizers.

Reproduced from transformers 5.24.0: ``tokenization_utils_base`` (``_from_pretrained``'s special and
added tokens; chat templates from ``chat_template.jinja``, ``additional_chat_templates/`` or the config;
``get_chat_template``, ``apply_chat_template``), ``tokenization_utils_tokenizers``
(``TokenizersBackend.__init__``), ``models/{qwen2,gemma}/tokenization_*.py`` and
chat_render.py (the template's rendering), less what tp never asks for: ``continue_final_message`` and
assistant masks raise instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import chat_render

REPRODUCED = "5.24."  # the transformers release whose loading and rendering this module redoes
SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
AS_WRITTEN = {"PreTrainedTokenizerFast", "TokenizersBackend"}
QWEN2_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# The classes whose __init__ rebuilds the pipeline around the file's vocabulary (see _rebuild), with
# the special tokens they default to.
REBUILT = {
    "Qwen2Tokenizer": {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "GemmaTokenizer": {"unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                       "mask_token": "<mask>"},
}  # fmt: skip
CLEAN_UP = (" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're")  # clean_up_tokenization's


def load(path: str) -> LightTokenizer | None:
    """The tokenizer of folder ``path`` as transformers would load it, or None where that cannot be exact."""
    config = _servable_config(path)
    if config is None or not _same_transformers():
        return None
    from tokenizers import AddedToken, Tokenizer

    try:
        backend = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        return _build(path, config, backend, AddedToken)
    except Exception:  # a file or config it cannot read (tokenizers raises bare Exceptions): transformers says why
        return None


def _build(path: str, config: dict, backend, AddedToken) -> LightTokenizer | None:
    """The backend, special tokens and template transformers would make of the folder, or None."""
    if backend.truncation is not None or backend.padding is not None:
        return None  # transformers resets them for each call; tp's batched encodes would keep them
    rebuilt = config["tokenizer_class"].removesuffix("Fast")
    rebuilt = rebuilt if rebuilt in REBUILT else None
    if rebuilt:
        config = {**REBUILT[rebuilt], **config}
        if not _rebuild(backend, rebuilt, config):
            return None
    in_file = backend.get_added_tokens_decoder()
    if "added_tokens_decoder" in config:
        decoder = {int(i): AddedToken(**t) for i, t in config["added_tokens_decoder"].items()}
        if rebuilt and any(decoder.get(i, None) is None or str(decoder[i]) != str(t) for i, t in in_file.items()):
            return None  # a rebuilt tokenizer starts from the config's added tokens alone: the file's others go
    elif any(os.path.exists(os.path.join(path, f)) for f in ("special_tokens_map.json", "added_tokens.json")):
        return None  # transformers' legacy merge of those files
    else:
        decoder = dict(in_file)
    named = _named_tokens(config, {str(t): t for t in decoder.values()}, AddedToken)
    extra = _extra_tokens(config, AddedToken)
    _add_tokens(backend, decoder, named, extra, AddedToken)
    if rebuilt == "Qwen2Tokenizer":  # its __init__'s last step: every special token, as a special token
        backend.add_tokens([AddedToken(t, special=True) for t in _all_special(named, extra)])
    if any(backend.token_to_id(str(t)) != i for i, t in decoder.items()):
        return None  # an added token did not land on the id the config gives it
    backend.encode_special_tokens = bool(config.get("split_special_tokens", False))
    if backend.post_processor is None:  # TokenizersBackend.update_post_processor, bos and eos off
        from tokenizers import processors

        backend.post_processor = processors.TemplateProcessing(single="$A:0", pair="$A:0 $B:1", special_tokens=[])
    named = {k: str(v) for k, v in named.items() if v is not None}
    clean_up = bool(config.get("clean_up_tokenization_spaces", False))
    return LightTokenizer(path, backend, named, _chat_template(path, config), clean_up)


def _same_transformers() -> bool:
    """No transformers to differ from, or the one reproduced here (others load and render otherwise:
    4.x keeps Qwen2's tokenizer.json as written, 5.23 passes None-valued message keys on)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transformers").startswith(REPRODUCED)
    except PackageNotFoundError:
        return True


def _servable_config(path: str) -> dict | None:
    if not os.path.isdir(path) or os.path.exists(os.path.join(path, "config.json")):
        return None
    if not os.path.isfile(os.path.join(path, "tokenizer.json")):
        return None
    try:
        with open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "auto_map" in config or "fast_tokenizer_files" in config:
        return None
    cls = config.get("tokenizer_class")
    if cls in ("LlamaTokenizer", "LlamaTokenizerFast"):  # AutoTokenizer loads a ByteLevel file as written
        with open(os.path.join(path, "tokenizer.json"), encoding="utf-8") as f:
            cls = "TokenizersBackend" if '"ByteLevel"' in f.read() else cls
        config = {**config, "tokenizer_class": cls}
    return config if cls in AS_WRITTEN or str(cls).removesuffix("Fast") in REBUILT else None


def _rebuild(backend, cls: str, config: dict) -> bool:
    """``backend`` with the pipeline ``cls.__init__`` builds around the file's vocabulary and merges."""
    from tokenizers import Regex, decoders, normalizers, pre_tokenizers

    if type(backend.model).__name__ != "BPE":
        return False
    model = backend.model
    model.dropout, model.ignore_merges = None, False
    if cls == "Qwen2Tokenizer":
        model.unk_token, model.continuing_subword_prefix, model.end_of_word_suffix = None, "", ""
        model.fuse_unk, model.byte_fallback = False, False
        backend.decoder = decoders.ByteLevel()
        backend.normalizer = normalizers.NFC()
        add_prefix_space = bool(config.get("add_prefix_space") or False)
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=False),
            ]
        )
    else:  # GemmaTokenizer
        unk = config["unk_token"]
        model.unk_token = unk if isinstance(unk, str) else unk["content"]
        model.continuing_subword_prefix, model.end_of_word_suffix = None, None
        model.fuse_unk, model.byte_fallback = True, True
        backend.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
        backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
        backend.normalizer = normalizers.Replace(" ", "▁")
    return True


def _is_token(value: Any) -> bool:
    return isinstance(value, str) or isinstance(value, dict) and value.get("__type") == "AddedToken"


def _token(value: Any, AddedToken) -> Any:
    """A special token as transformers keeps it, a string or an AddedToken; anything else raises (a fallback)."""
    if not _is_token(value):
        raise TypeError(f"not a token: {value!r}")
    return value if isinstance(value, str) else AddedToken(**{k: v for k, v in value.items() if k != "__type"})


def _named_tokens(config: dict, by_text: dict, AddedToken) -> dict:
    """bos_token … mask_token (as the config's added tokens have them), then the model's own ``*_token`` names
    (add_bos_token and other flags end in _token too: only tokens count)."""
    named = {k: _token(config[k], AddedToken) for k in SPECIAL if config.get(k) is not None}
    own = {k: v for k, v in config.items() if k not in SPECIAL and k.endswith("_token") and _is_token(v)}
    if isinstance(config.get("extra_special_tokens"), dict):
        own.update(config["extra_special_tokens"])
    return {k: by_text.get(str(t), t) for k, t in named.items()} | {k: _token(v, AddedToken) for k, v in own.items()}


def _extra_tokens(config: dict, AddedToken) -> list:
    """extra_special_tokens as a list, else the older additional_special_tokens."""
    extra = config.get("extra_special_tokens")
    extra = extra if isinstance(extra, list) and extra else config.get("additional_special_tokens") or []
    return [_token(t, AddedToken) for t in extra]


def _all_special(named: dict, extra: list) -> list[str]:
    return list(dict.fromkeys(str(t) for t in [*named.values(), *extra] if t is not None))


def _add_tokens(backend, decoder: dict, named: dict, extra: list, AddedToken) -> None:
    """TokenizersBackend.__init__'s additions: the config's added tokens, then special tokens it lacks."""
    tokens = [t for _, t in sorted(decoder.items())]
    encoder = {str(t) for t in backend.get_added_tokens_decoder().values()} | {str(t) for t in tokens}
    for value in [*named.values(), *extra]:
        if str(value) not in encoder and value not in tokens:
            tokens.append(value)
    all_named = {str(t) for t in named.values()}
    added = []
    for token in tokens:
        if isinstance(token, str):
            token = AddedToken(token, special=True)
        elif not token.special and str(token) in all_named:
            token.special = True
        added.append(token)
    if added:
        backend.add_tokens(added)


def _chat_template(path: str, config: dict) -> str | dict | None:
    """chat_template.jinja and additional_chat_templates/*.jinja before the config's own."""
    templates = {}
    if os.path.isfile(os.path.join(path, "chat_template.jinja")):
        templates["default"] = _read(os.path.join(path, "chat_template.jinja"))
    folder = os.path.join(path, "additional_chat_templates")
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".jinja"):
                templates[name.removesuffix(".jinja")] = _read(os.path.join(folder, name))
    if templates:
        return templates["default"] if list(templates) == ["default"] else templates
    template = config.get("chat_template")
    if isinstance(template, (list, tuple)):
        return {t["name"]: t["template"] for t in template}
    return template


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class LightTokenizer:
    """The part of transformers' tokenizer API tp uses, over a ``tokenizers.Tokenizer``."""

    def __init__(self, path: str, backend, special_tokens_map: dict[str, str], chat_template, clean_up: bool):
        self.name_or_path = path
        self.backend_tokenizer = backend
        self.special_tokens_map = special_tokens_map
        self.chat_template = chat_template
        self.clean_up_tokenization_spaces = clean_up

    def __getattr__(self, name: str):  # bos_token, eos_token, …: None where the folder names none
        if name.endswith("_token"):  # (through __dict__: unpickling looks names up before it is filled)
            return self.__dict__.get("special_tokens_map", {}).get(name)
        raise AttributeError(name)

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict:
        return self.backend_tokenizer.get_added_tokens_decoder()

    def __call__(self, text, add_special_tokens: bool = True, return_offsets_mapping: bool = False) -> dict:
        single = isinstance(text, str)
        encodings = self.backend_tokenizer.encode_batch(
            [text] if single else list(text), add_special_tokens=add_special_tokens
        )
        out = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        return {k: v[0] for k, v in out.items()} if single else out

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> str:
        text = self.backend_tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces and type(self.backend_tokenizer.model).__name__ != "BPE":
            for spaced in CLEAN_UP:  # transformers never cleans a BPE's text (it would corrupt it)
                text = text.replace(spaced, spaced[1:] if spaced != " ' " else "'")
        return text

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self.backend_tokenizer.token_to_id(token)

    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        templates = self.chat_template
        if isinstance(templates, dict):
            if chat_template is not None and chat_template in templates:
                return templates[chat_template]
            if chat_template is None:
                if tools is not None and "tool_use" in templates:
                    return templates["tool_use"]
                if "default" in templates:
                    return templates["default"]
                raise ValueError(
                    "This model has multiple chat templates with no default specified! Please either pass a chat "
                    "template or the name of the template you wish to use to the `chat_template` argument. Available "
                    f"template names are {sorted(templates.keys())}."
                )
        if chat_template is None:
            if templates is None:
                raise ValueError(
                    "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
                    "argument was passed! For information about writing templates and setting the "
                    "tokenizer.chat_template attribute, please see the documentation at "
                    "https://huggingface.co/docs/transformers/main/en/chat_templating"
                )
            return templates
        return chat_template

    def apply_chat_template(
        self,
        conversation,
        tools: list | None = None,
        documents: list | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        return_dict: bool = True,
        **kwargs,
    ):
        """transformers' ``apply_chat_template`` for the text (``tokenize=False``) or its plain token ids."""
        unsupported = sorted(
            {"continue_final_message", "return_assistant_tokens_mask", "tokenizer_kwargs"} & set(kwargs)
        )
        if unsupported:  # transformers' own arguments: never template variables
            raise TypeError(
                f"the light tokenizer does not take {', '.join(unsupported)} (TP_TOKENIZER=transformers does)"
            )
        template = self.get_chat_template(chat_template, tools)
        if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
            raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        batched = isinstance(conversation, (list, tuple)) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
        )
        chats = [chat_render.normalize(c) for c in (conversation if batched else [conversation])]
        texts = chat_render.render(
            chats, template, tools, documents, add_generation_prompt, {**self.special_tokens_map, **kwargs}
        )
        if not tokenize:
            return texts if batched else texts[0]
        out = self(texts if batched else texts[0], add_special_tokens=False)
        return out if return_dict else out["input_ids"]
