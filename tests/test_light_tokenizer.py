"""The light tokenizer (light_tokenizer.py) against transformers' AutoTokenizer, on every folder of
../shared/tokenizers: the same pipeline, special and added tokens, rendered text of many conversations
under every template switch, token ids and offsets, decoded text, and ``tp mask`` output through both
paths; byte for byte. A folder the light path cannot serve exactly must fall back to transformers.

Each folder loads once per session through each path; the tests skip without ../shared.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from thinkpack_cli import light_tokenizer
from thinkpack_cli import tokenizer as tokenizers
from thinkpack_cli.records import conversation, tools

SHARED = Path(__file__).resolve().parents[2] / "shared"
FAMILIES = sorted(p.name for p in (SHARED / "tokenizers").iterdir() if p.is_dir()) if SHARED.is_dir() else []
TOOL_DEMO = "sft/llamafactory_reason_tool_use_demo_50.jsonl"
SWITCHES = [
    {},
    {"enable_thinking": True},
    {"enable_thinking": False},
    {"thinking": True},
    {"thinking": False},
    {"reasoning_effort": "high"},
]


@functools.cache
def both(tokenizers_dir: Path, family: str):
    from transformers import AutoTokenizer

    path = str(tokenizers_dir / family)
    return light_tokenizer.load(path), AutoTokenizer.from_pretrained(path)


def served(tokenizers_dir: Path, family: str):
    light, auto = both(tokenizers_dir, family)
    if light is None:
        pytest.skip(f"{family} falls back to transformers (test_the_rule_serves_every_folder_it_can)")
    return light, auto


def outcome(fn, *args, **kwargs):
    """What a call gives: its value, or the kind and words of what it raised (templates raise on purpose)."""
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as e:
        return "raised", type(e).__name__, str(e)


def as_dicts(messages) -> list[dict]:
    """tp's messages as an OpenAI-style chat, reasoning in ``reasoning_content``."""
    out = []
    for m in messages:
        turn = {"role": m.role, "content": m.content, **m.extra}
        if m.reasoning is not None:
            turn["reasoning_content"] = m.reasoning
        if m.tool_calls:
            turn["tool_calls"] = m.tool_calls
        out.append(turn)
    return out


@functools.cache
def conversations(corpus_dir: Path) -> list[tuple[list[dict], list | None]]:
    """Conversations with their tools: hand-made shapes, then every tool-use record of the corpus."""
    q, a, r = "What is 2 + 2?", "It is 4.", "2 and 2 make 4."
    user, sys_ = {"role": "user", "content": q}, {"role": "system", "content": "Be brief."}
    chats = [
        [user],
        [sys_, user],
        [user, {"role": "assistant", "content": a}],
        [sys_, user, {"role": "assistant", "content": a, "reasoning_content": r}],
        [user, {"role": "assistant", "content": a, "thinking": r}],  # the alias gpt-oss reads
        [user, {"role": "assistant", "content": a, "reasoning": r}],  # the older name transformers aliases
        [user, {"role": "assistant", "content": a, "reasoning_content": None, "tool_calls": None}],  # None dropped
        [user, {"role": "assistant", "content": f"<think>\n{r}\n</think>\n\n{a}"}],
        [user, {"role": "assistant", "content": a, "reasoning_content": r}, {"role": "user", "content": "And 3 + 3?"}],
        [
            user,
            {"role": "assistant", "content": a, "reasoning_content": r},
            {"role": "user", "content": "And 3 + 3?"},
            {"role": "assistant", "content": "6.", "reasoning_content": "3 and 3 make 6."},
        ],
        [{"role": "user", "content": [{"type": "text", "text": q}]}],  # content parts
        [{"role": "user", "content": "Say <|im_end|> and </think> and [THINK] and <｜Assistant｜> verbatim: 漢字 é"}],
    ]
    out = [(c, None) for c in chats]
    with open(corpus_dir / TOOL_DEMO, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            out.append((as_dicts(conversation(record, need_answer=False)), tools(record)))
    return out


def test_the_rule_serves_every_folder_it_can(tokenizers_dir):
    """Every folder of ../shared is one transformers loads as written or through a class whose rebuild is
    redone (Qwen2Tokenizer, GemmaTokenizer); under another transformers release every one falls back."""
    assert FAMILIES, "no tokenizer folders"
    served = {f for f in FAMILIES if both(tokenizers_dir, f)[0] is not None}
    assert served == (set(FAMILIES) if light_tokenizer._same_transformers() else set())


@pytest.mark.parametrize("family", FAMILIES)
def test_the_pipeline_and_tokens_are_transformers(tokenizers_dir, family):
    light, auto = served(tokenizers_dir, family)
    assert json.loads(light.backend_tokenizer.to_str()) == json.loads(auto.backend_tokenizer.to_str())

    def flags(tokenizer):
        return {i: (t.content, t.special, t.lstrip, t.rstrip, t.normalized, t.single_word) for i, t in
                tokenizer.added_tokens_decoder.items()}  # fmt: skip

    assert flags(light) == flags(auto)
    assert light.special_tokens_map == auto.special_tokens_map
    assert (light.bos_token, light.eos_token, light.pad_token) == (auto.bos_token, auto.eos_token, auto.pad_token)
    assert len(light) == len(auto)
    assert light.chat_template == auto.chat_template


@pytest.mark.parametrize("family", FAMILIES)
def test_renders_are_transformers(tokenizers_dir, corpus_dir, family):
    light, auto = served(tokenizers_dir, family)
    rendered = 0
    for chat, listed in conversations(corpus_dir):
        for switch in SWITCHES:
            for generation in (False, True):
                kwargs = dict(tokenize=False, add_generation_prompt=generation, tools=listed, **switch)
                got = outcome(light.apply_chat_template, chat, **kwargs)
                assert got == outcome(auto.apply_chat_template, chat, **kwargs), (chat, kwargs)
                rendered += got[0] == "ok"
    assert rendered > len(conversations(corpus_dir))  # the comparison is of texts, not of errors
    batch = [c for c, _ in conversations(corpus_dir)[:4]]
    assert light.apply_chat_template(batch, tokenize=False) == auto.apply_chat_template(batch, tokenize=False)
    assert light.apply_chat_template(batch[2], return_dict=False) == auto.apply_chat_template(
        batch[2], return_dict=False
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_token_ids_offsets_and_decode_are_transformers(tokenizers_dir, corpus_dir, family):
    light, auto = served(tokenizers_dir, family)
    texts = []
    for chat, listed in conversations(corpus_dir):
        for generation in (False, True):
            got = outcome(
                auto.apply_chat_template, chat, tokenize=False, add_generation_prompt=generation, tools=listed
            )
            if got[0] == "ok":
                texts.append(got[1])
    texts += [
        "",
        " ",
        "\n\n",
        "Hello, world! 2 + 2 = 4; héllo 漢字",
        " leading space",
        "e\u0301 combining",
        "👩‍👩‍👧 \t tab",
    ]
    special = sorted(auto.special_tokens_map.values())
    texts.append("x".join(special) + "".join(special))
    ids = [e.ids for e in light.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert ids == [e.ids for e in auto.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert [e.offsets for e in light.backend_tokenizer.encode_batch(texts, add_special_tokens=False)] == [
        e.offsets for e in auto.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    ]
    for add in (False, True):
        mine, theirs = light(texts, add_special_tokens=add), auto(texts, add_special_tokens=add)
        assert mine["input_ids"] == theirs["input_ids"] and mine["attention_mask"] == theirs["attention_mask"]
        assert (
            light(texts[0], add_special_tokens=add)["input_ids"] == auto(texts[0], add_special_tokens=add)["input_ids"]
        )
        assert light.encode(texts[-1], add_special_tokens=add) == auto.encode(texts[-1], add_special_tokens=add)
    mine = light(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert mine == [
        list(map(tuple, o))
        for o in auto(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    ]
    for skip in (False, True):
        assert [light.decode(i, skip_special_tokens=skip) for i in ids] == [
            auto.decode(i, skip_special_tokens=skip) for i in ids
        ]
    assert tokenizers.token_ids(light, texts) == tokenizers.token_ids(auto, texts)
    for token in special:
        assert light.convert_tokens_to_ids(token) == auto.convert_tokens_to_ids(token)


@pytest.mark.parametrize("family", FAMILIES)
def test_tp_mask_writes_the_same_through_both_paths(tokenizers_dir, corpus_dir, tmp_path, tp, monkeypatch, family):
    """input_ids, labels, attention_mask and the audit, every skipped record's reason, and a refusal's
    words (a family that renders no tool calls refuses tool records): the same bytes through both paths."""
    written = 0
    for name in (TOOL_DEMO, "sft/marco_o1_cot_demo.jsonl"):
        outputs = []
        for path in ("light", "transformers"):
            monkeypatch.setenv("TP_TOKENIZER", path)
            out, skipped = tmp_path / f"{path}.jsonl", tmp_path / f"{path}.skipped.jsonl"
            args = [corpus_dir / name, "-o", out, "--tokenizer", tokenizers_dir / family, "--skipped", skipped]
            result = tp("mask", *args, "-q", "--train-turns", "all")
            assert result.exit_code in (0, 1, 2), result.stderr
            said = [
                line for line in result.stderr.splitlines() if not line.startswith("[transformers]")
            ]  # its own notes
            outputs.append((result.exit_code, said, *(p.read_bytes() if p.exists() else b"" for p in (out, skipped))))
            out.unlink(missing_ok=True)
            skipped.unlink(missing_ok=True)
        assert outputs[0] == outputs[1], name
        written += outputs[0][2].count(b"\n")
    assert written > 100  # most records mask: the comparison is of real output


def test_tp_mask_on_a_served_folder_never_imports_transformers(tokenizers_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"instruction": "2 + 2?", "reasoning": "4.", "response": "4"}) + "\n")
    code = (
        "import sys; from thinkpack_cli.cli import main\n"
        "sys.argv = ['tp', 'mask', sys.argv[1], '-o', sys.argv[2], '--tokenizer', sys.argv[3], '-q']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('transformers', 'torch') if m in sys.modules], file=sys.stderr)"
    )
    args = [source, tmp_path / "out.jsonl", tokenizers_dir / "qwen3"]
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "[]"
    assert json.loads((tmp_path / "out.jsonl").read_text())["trained_tokens"] > 0


# ---------------------------------------------------------------------------- tiny folders

CHATML = (
    "{%- set ns = namespace(n=0) -%}"
    "{%- for m in messages -%}"
    "{%- if m.role not in ['system', 'user', 'assistant'] %}{{ raise_exception('bad role ' + m.role) }}{% endif -%}"
    "{%- set ns.n = ns.n + 1 -%}"
    "<|im_start|>{{ m.role }}\n"
    "{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif -%}"
    "{%- if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
    "{%- else %}{{ m.content }}{% endif %}<|im_end|>\n"
    "{%- if loop.index > 50 %}{% break %}{% endif -%}"
    "{%- endfor -%}"
    "{%- if tools %}{{ tools | tojson(indent=2) }}{% endif -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
    "{{ eos_token if ns.n > 100 else '' }}"
)


def tiny_folder(path: Path, tokenizer_class: str, **files) -> Path:
    """A byte-level BPE trained on a few lines, with ChatML's special tokens and the template above."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(
        ["What is 2 + 2? It is 4.", "Hello, world! héllo 漢字", "assistant user system"] * 5, trainer
    )
    path.mkdir()
    tokenizer.save(str(path / "tokenizer.json"))
    config = {"tokenizer_class": tokenizer_class, "eos_token": "<|im_end|>", "chat_template": CHATML}
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    for name, text in files.items():
        (path / name.replace("__", ".")).write_text(text)
    return path


def test_a_tiny_folder_it_can_serve_is_served_as_transformers_serves_it(tmp_path):
    from transformers import AutoTokenizer

    path = str(tiny_folder(tmp_path / "tiny", "PreTrainedTokenizerFast"))
    light, auto = light_tokenizer.load(path), AutoTokenizer.from_pretrained(path)
    assert isinstance(tokenizers.load(path), light_tokenizer.LightTokenizer)
    chats = [
        [
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
        ],
        [{"role": "tool", "content": "x"}],  # raise_exception
        [{"role": "user", "content": "héllo 漢字"}] * 60,  # break
    ]
    listed = [{"type": "function", "function": {"name": "add", "parameters": {"a": "é"}}}]
    for chat in chats:
        for kwargs in ({}, {"add_generation_prompt": True, "tools": listed}, {"eos_token": "X"}):
            assert outcome(light.apply_chat_template, chat, tokenize=False, **kwargs) == outcome(
                auto.apply_chat_template, chat, tokenize=False, **kwargs
            )
    with pytest.raises(TypeError, match="continue_final_message"):  # never passed on as a template variable
        light.apply_chat_template(chats[0], tokenize=False, continue_final_message=True)
    text = light.apply_chat_template(chats[0], tokenize=False)
    assert light(text)["input_ids"] == auto(text)["input_ids"] and light.decode(light.encode(text)) == text
    assert json.loads(light.backend_tokenizer.to_str()) == json.loads(auto.backend_tokenizer.to_str())


@pytest.mark.parametrize(
    "why, tokenizer_class, files",
    [
        ("a class whose rebuild of the pipeline is not redone here", "GPT2Tokenizer", {}),
        ("a model config.json: AutoTokenizer then picks the class by model type", "PreTrainedTokenizerFast", {"config__json": "{}"}),
        ("remote code", "PreTrainedTokenizerFast", {"tokenizer_config__json": json.dumps({"auto_map": {"AutoTokenizer": ["x.Y", None]}, "tokenizer_class": "PreTrainedTokenizerFast"})}),
        ("legacy special_tokens_map.json merged in", "PreTrainedTokenizerFast", {"special_tokens_map__json": "{}"}),
    ],
)  # fmt: skip
def test_a_tiny_folder_it_cannot_serve_exactly_falls_back(tmp_path, why, tokenizer_class, files):
    path = tiny_folder(tmp_path / "tiny", tokenizer_class, **files)
    assert light_tokenizer.load(str(path)) is None, why


def test_a_hub_name_or_a_folder_without_tokenizer_json_falls_back(tmp_path):
    assert light_tokenizer.load("Qwen/Qwen3-8B") is None
    path = tiny_folder(tmp_path / "tiny", "PreTrainedTokenizerFast")
    (path / "tokenizer.json").unlink()
    assert light_tokenizer.load(str(path)) is None
