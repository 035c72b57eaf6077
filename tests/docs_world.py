"""The folder the README's and ``--help``'s examples run in: every file and model they name.

An example says ``tp stats baseline.jsonl candidate.jsonl`` or ``-t ./Qwen3-8B``; the world holds
files of those names built from the repo's samples (``samples/``), tokenizer folders linked from
``../shared/tokenizers``, and, for ``tp generate``, a tiny scripted model saved under the hub name
the example uses. Every ``--base-url`` is pointed at a loopback server: ``tp generate``'s at an
OpenAI completions server for the scripted model (``completions_server.py``, a thread per
request), every other's at the teacher (chat completions, ``teacher_server.py``). A name that is
not here makes its example fail with tp's own "no such file" error: add it to ``FILES`` below.

Each command runs in a fresh copy of the world (files an example writes are not seen by the next
one; what it reads is always here), with the environment in ``World.env``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(HERE))

# Tokenizer folders the examples name, linked from ../shared/tokenizers.
TOKENIZERS = {
    "Qwen3-8B": "qwen3",
    "DeepSeek-R1-Distill-Qwen-7B": "deepseek-r1-distill-qwen",
    "QwQ-32B": "qwq-32b",
    "gpt-oss-20b": "gpt-oss",
    "Llama-3.1-8B-Instruct": "llama-3.1",
}
MODEL = "Qwen/Qwen3-8B"  # tp generate's --model (and -t): the scripted tiny model, with Qwen3's tokenizer
ADAPTER = "answer-lora"  # its LoRA adapter (a folder for --backend transformers, a model name on the server)
SERVED = "base"  # the base model's name on the loopback completions server
TOKENIZER_FOR_SNIPPETS = "Qwen3-8B"  # the Python snippets' free ``tok`` (train.parquet is tokenized with it)

# Shell words that are not world names even though they look like paths.
_NAME = r"(?<![\w.-]){}(?![\w-])"


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _closed(record: dict) -> bool:
    text = record.get("response") or ""
    return "<think>" in text and "</think>" in text


# ------------------------------------------------------------------------------------ the files


def _chat_responses(records):
    """Raw outputs as an OpenAI chat-completions response holds them (for --field choices.0.message.content)."""
    out = []
    for r in records:
        rest = {k: v for k, v in r.items() if k != "response"}
        out.append(
            rest
            | {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": r["response"]}, "finish_reason": "stop"}
                ]
            }
        )
    return out


def _parsed_samples():
    """eval_samples_n3 as one record per sample (prompt_id: the prompt's id), parsed."""
    from thinkpack_cli.parse import Parser

    rows = [
        {k: v for k, v in r.items() if k not in ("response", "id")} | {"prompt_id": r["id"], "response": text}
        for r in _read(SAMPLES / "eval_samples_n3.jsonl")
        for text in r["response"]
    ]
    return [Parser().parse_record(r) for r in rows]


def _sft():
    """ThinkPack-shaped SFT records (instruction, response with an inline <think> block, a uid):
    the RL run's 8 shortest closed ones, so the README's training step (tp mask's output of them,
    whole) is quick on a CPU."""
    closed = [r for r in _read(SAMPLES / "run_b.jsonl") if _closed(r)]
    chosen = sorted(closed, key=lambda r: len(r["question"]) + len(r["response"]))[:8]
    return [
        {"uid": r["id"], "instruction": r["question"], "response": r["response"], "gold": r["gold"]} for r in chosen
    ]


def _r1_traces():
    """Distillation traces with the reasoning in its own field (instruction / reasoning /
    response), and metadata for --keep-fields to carry: the SFT records, split by tp parse."""
    from thinkpack_cli.parse import Parser

    parser = Parser()
    out = []
    for r in _sft():
        split = parser.parse_record({"response": r["response"]})
        assert split["status"] == "valid", split
        out.append(
            {
                "uid": r["uid"],
                "instruction": r["instruction"],
                "reasoning": split["reasoning"],
                "response": split["answer"],
                "teacher": "DeepSeek-R1",
                "gold": r["gold"],
            }
        )
    return out


def _chats():
    """Two-turn chats in OpenAI form, reasoning inline in the assistant content."""
    sft = _sft()
    return [
        {
            "id": f"chat-{i}",
            "messages": [
                m
                for r in pair
                for m in (
                    {"role": "user", "content": r["instruction"]},
                    {"role": "assistant", "content": r["response"]},
                )
            ],
        }
        for i, pair in enumerate(zip(sft[0::2], sft[1::2]))
    ]


def _questions(n: int):
    return _read(SAMPLES / "run_a.jsonl")[:n]


FILES = {
    "outputs.jsonl": lambda: _read(SAMPLES / "eval_outputs.jsonl"),
    "runs/run_a.jsonl": lambda: _chat_responses(_read(SAMPLES / "run_a.jsonl")),
    "runs/run_b.jsonl": lambda: _chat_responses(_read(SAMPLES / "run_b.jsonl")),
    # R1-Distill outputs: the bundled records whose prompt opened the block (outputs hold only the close).
    "r1_outputs.jsonl": lambda: [
        r for r in _read(SAMPLES / "eval_outputs.jsonl") if str(r.get("construction", "")).startswith("prefixed")
    ],
    "parsed.jsonl": _parsed_samples,
    # Two checkpoints' runs; each record names its problem as eval harnesses do (problem_id).
    "baseline.jsonl": lambda: [r | {"problem_id": r["id"]} for r in _read(SAMPLES / "run_a.jsonl")],
    "candidate.jsonl": lambda: [r | {"problem_id": r["id"]} for r in _read(SAMPLES / "run_b.jsonl")],
    # A checkpoint that passes the README's gates: the RL run's records whose reasoning closed.
    "eval.jsonl": lambda: [r for r in _read(SAMPLES / "run_b.jsonl") if _closed(r)],
    "sft.jsonl": _sft,
    "r1_traces.jsonl": _r1_traces,
    "chats.jsonl": _chats,
    "prompts.jsonl": lambda: [{"id": r["id"], "question": r["question"]} for r in _questions(8)],
    "qa.jsonl": lambda: [{"id": r["id"], "question": r["question"], "answer": r["gold"]} for r in _questions(4)],
    "math.jsonl": lambda: [{"id": r["id"], "problem": r["question"], "gold": r["gold"]} for r in _questions(4)],
    "attempts.jsonl": lambda: [
        {"id": r["id"], "question": r["question"], "gold": r["gold"], "attempt": r["model_answer"]}
        for r in _questions(4)
    ],
}
TEXTS = {
    "my_prompt.jinja": "{{ question }}\n\nThe known answer is {{ answer }}. Reason your way to it inside <think></think>.\n",
}


# lighteval --save-details files, as huggingface/lighteval@3fd1526 writes them: one Detail(doc,
# model_response, metric) per sample made a row by ``Dataset.from_list(asdict(detail))``, columns
# sorted, ``to_parquet`` to details_{task}_{date}.parquet (logging/evaluation_tracker.py), where a
# task is ``name|fewshots`` (tasks/lighteval_task.py). Doc's fields are tasks/requests.py's and
# ModelResponse's models/model_output.py's, each at its default unless a generative task sets it.
LIGHTEVAL_DATE = "2025-11-05T14-43-47.148527"
LIGHTEVAL_TASKS = (
    "products",
    "polynomial_equations",
    "family_relationships",
)  # reasoning-gym datasets of the n=3 samples


def _lighteval_rows(dataset: str) -> list[dict]:
    """One task's details: the bundled prompts of one dataset, 3 samples each (``num_samples``)."""
    task = f"reasoning_gym:{dataset}|0"
    rows = []
    for i, r in enumerate(x for x in _read(SAMPLES / "eval_samples_n3.jsonl") if x["dataset"] == dataset):
        texts = r["response"]
        doc = {
            "query": r["question"],
            "choices": [r["gold"]],
            "gold_index": 0,
            "instruction": None,
            "images": None,
            "specific": None,
            "unconditioned_query": None,
            "original_query": None,
            "id": str(i),
            "task_name": task,
            "fewshot_samples": [],
            "sampling_methods": ["GENERATIVE"],
            "fewshot_sorting_class": None,
            "generation_size": int(r["max_tokens"]),
            "stop_sequences": [],
            "use_logits": False,
            "num_samples": len(texts),
            "generation_grammar": None,
        }
        response = {
            "input": r["question"],
            "input_tokens": [],
            "text": texts,
            "output_tokens": [],
            "text_post_processed": None,
            "reasonings": [None] * len(texts),
            "logprobs": [],
            "argmax_logits_eq_gold": [],
            "logits": None,
            "unconditioned_logprobs": None,
            "truncated_tokens_count": 0,
            "padded_tokens_count": 0,
        }
        rows.append(
            {
                "doc": doc,
                "model_response": response,
                "metric": {f"pass@k:k=1&n={len(texts)}": sum(r["score"]) / len(r["score"])},
            }
        )
    assert rows, f"no bundled n=3 samples of {dataset}"
    return rows


def lighteval_details(folder: Path) -> None:
    """The details files of a lighteval run over ``LIGHTEVAL_TASKS``, written into ``folder``."""
    from datasets import Dataset

    for dataset in LIGHTEVAL_TASKS:
        details = Dataset.from_list(_lighteval_rows(dataset))
        details = details.select_columns(sorted(c for c in details.column_names if c != "id"))
        path = folder / f"details_reasoning_gym:{dataset}|0_{LIGHTEVAL_DATE}.parquet"
        details.to_parquet(str(path))


# ------------------------------------------------------------------------------------ models


def scripted_model(tokenizer_dir: Path, path: Path) -> None:
    """A tiny Qwen3 that follows a script whatever the prompt: it thinks " So", closes, answers
    "4" and ends its turn, as a real model might in a few tokens. Its layers are switched off
    (zero output projections), so the next token depends on the last one only, and embeddings and
    head are wired so that every token is followed by " So", except where the script says."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)

    def one(text: str) -> int:
        ids = tok.encode(text, add_special_tokens=False)
        assert len(ids) == 1, f"{text!r} is {len(ids)} tokens in {tokenizer_dir}"
        return ids[0]

    end, close, so = one("<|im_end|>"), one("</think>"), one(" So")
    script = {so: close, one("\n\n"): one("4"), one("4"): end}
    assert tok.encode("x</think>\n\n", add_special_tokens=False)[-1] == one("\n\n"), (
        "the answer phase starts after \\n\\n"
    )
    torch.manual_seed(0)
    # Qwen3-8B's context (40960), so tp's default thinking budget fits as it does on the real model.
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=40960,
        tie_word_embeddings=False,
        eos_token_id=end,
        pad_token_id=tok.pad_token_id or end,
    )
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        basis = torch.linalg.qr(torch.randn(16, len(script) + 1))[0].T  # orthonormal: no step leaks into another
        model.model.embed_tokens.weight[:] = basis[0]
        model.lm_head.weight.zero_()
        model.lm_head.weight[so] = 10 * basis[0]
        for e, (token, following) in zip(basis[1:], script.items()):
            model.model.embed_tokens.weight[token] += e
            model.lm_head.weight[following] += 20 * e
    model.generation_config.eos_token_id = end
    model.save_pretrained(path)
    tok.save_pretrained(path)


def identity_adapter(model_dir: Path, path: Path) -> None:
    """A LoRA adapter that changes nothing (B = 0, peft's default), so the script still holds."""
    import peft
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules=["q_proj", "v_proj"])).save_pretrained(path)


def tiny_random_model(tokenizer):
    """A small random Qwen3 for the tokenizer (for the README's training snippets)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            tie_word_embeddings=False,
        )
    )


def _missing_modules(*names: str) -> str | None:
    absent = [n for n in names if importlib.util.find_spec(n) is None]
    return f"needs {', '.join(absent)} (pip install -e '.[generate]')" if absent else None


# ------------------------------------------------------------------------------------ the world


class World:
    """The template folder, built once; ``fresh()`` copies it for one command."""

    def __init__(self, root: Path):
        self.root = root
        self.template = root / "template"
        self.heavy = root / "heavy"  # big folders, linked into the template, never copied
        self.template.mkdir(parents=True)
        self.heavy.mkdir()
        self._lock = threading.RLock()
        self._built: dict[str, str | None] = {}  # lazy name -> None (built) or why it cannot be
        self._server = None
        self._completions = None
        self.golds: dict[str, str] = {}
        for name, build in FILES.items():
            records = build()
            _write(self.template / name, records)
            for r in records:
                question = r.get("question") or r.get("problem") or r.get("instruction")
                if isinstance(question, str) and r.get("gold") is not None:
                    self.golds[question] = str(r["gold"])
        for name, text in TEXTS.items():
            (self.template / name).write_text(text, encoding="utf-8")
        self.lazy = {
            **{name: self._tokenizer for name in TOKENIZERS},
            MODEL: self._model,
            ADAPTER: self._adapter,
            "train.parquet": self._train,
            "details_*.parquet": self._details,
            "details.parquet": self._details,
        }
        self.names = sorted([*FILES, *TEXTS, *self.lazy])
        self.bin = Path(sys.executable).parent
        self.env = {k: v for k, v in os.environ.items() if k not in ("TP_DEBUG",)} | {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HOME": str(root / "hf"),
            "TOKENIZERS_PARALLELISM": "false",
            "GITHUB_STEP_SUMMARY": "step_summary.md",  # relative: inside each command's own copy
            "TEACHER_KEY": "docs-world-key",  # --api-key-env TEACHER_KEY
        }

    # -- names

    def referenced(self, text: str) -> list[str]:
        """The world's names that a command or a Python block mentions."""
        found = []
        for name in self.names:
            stem = name.split("/")[0] if name.startswith("runs/") else name
            if re.search(_NAME.format(re.escape(stem)), text):
                found.append(stem if stem != name else name)
        return sorted(set(found))

    def prepare(self, text: str) -> str | None:
        """Builds what ``text`` needs; why it cannot run here, or None."""
        needed = self.referenced(text)
        if re.search(r"tp generate\b[^|]*--base-url", text):
            needed.append(ADAPTER)  # its completions server serves the model and the adapter
        for name in needed:
            if name in self.lazy:
                why = self._build(name)
                if why:
                    return why
        return None

    def _build(self, name: str) -> str | None:
        with self._lock:
            if name not in self._built:
                self._built[name] = self.lazy[name](name)
            return self._built[name]

    def _tokenizer(self, name: str) -> str | None:
        source = SHARED / "tokenizers" / TOKENIZERS[name]
        if not source.is_dir():
            return f"needs the {TOKENIZERS[name]} tokenizer from ../shared/tokenizers (developer machines and CI only)"
        (self.template / name).symlink_to(source, target_is_directory=True)
        return None

    def _model(self, name: str) -> str | None:
        why = self._build("Qwen3-8B") or _missing_modules("torch")
        if why:
            return why
        scripted_model(self.template / "Qwen3-8B", self.heavy / "model")
        (self.template / "Qwen").mkdir()
        (self.template / name).symlink_to(self.heavy / "model", target_is_directory=True)
        return None

    def _adapter(self, name: str) -> str | None:
        why = self._build(MODEL) or _missing_modules("torch", "peft")
        if why:
            return why
        identity_adapter(self.heavy / "model", self.heavy / "adapter")
        (self.template / name).symlink_to(self.heavy / "adapter", target_is_directory=True)
        return None

    def _train(self, name: str) -> str | None:
        """tp mask's output of sft.jsonl (short records, so one training step is quick), every record kept."""
        import pyarrow.parquet as pq

        why = self._build("Qwen3-8B")
        if why:
            return why
        done = subprocess.run(
            ["tp", "mask", "sft.jsonl", "-o", name, "-t", "Qwen3-8B", "-q"],
            cwd=self.template,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"tp mask for the world's {name} failed: {done.stderr}"
        rows = pq.read_metadata(self.template / name).num_rows
        assert rows == len(FILES["sft.jsonl"]()), f"the world's {name} holds {rows} of sft.jsonl's records"
        return None

    def _details(self, name: str) -> str | None:
        """lighteval details: one file per task (``details_*.parquet``), and one task's as ``details.parquet``."""
        why = _missing_modules("datasets")
        if why:
            return why
        if name != "details.parquet":
            lighteval_details(self.template)
            return None
        why = self._build("details_*.parquet")
        if not why:
            shutil.copyfile(sorted(self.template.glob("details_*.parquet"))[0], self.template / name)
        return why

    # -- running

    def fresh(self, where: Path) -> Path:
        """A copy of the template for one command (big folders stay links)."""
        shutil.copytree(self.template, where, symlinks=True)
        return where

    def teacher_url(self) -> str:
        """The teacher (chat completions) every --base-url but tp generate's is pointed at (started on first use)."""
        with self._lock:
            if self._server is None:
                from teacher_server import TeacherServer

                self._server = TeacherServer(self._respond).__enter__()
            return self._server.url

    def completions_url(self) -> str:
        """tp generate's --base-url: the scripted model and its adapter, served as vLLM serves them.
        Its own server, whose every request has a thread: generating on the teacher's event loop
        (as this world once did) stalled every other connection behind one generation."""
        with self._lock:
            if self._completions is None:
                import peft
                from completions_server import CompletionsServer
                from transformers import AutoModelForCausalLM, AutoTokenizer

                why = self._build(ADAPTER)
                assert why is None, why  # the command's prepare() built it, or skipped the command
                model = peft.PeftModel.from_pretrained(
                    AutoModelForCausalLM.from_pretrained(self.heavy / "model"), self.heavy / "adapter"
                ).eval()
                tok = AutoTokenizer.from_pretrained(self.heavy / "model")
                self._completions = CompletionsServer(model, tok, base_name=SERVED, adapter_name=ADAPTER).__enter__()
            return self._completions.url

    def close(self) -> None:
        for server in (self._server, self._completions):
            if server is not None:
                server.__exit__(None, None, None)

    def _respond(self, request):
        from teacher_server import Reply, answer

        if request.path.endswith("/chat/completions"):
            gold = next((g for q, g in self.golds.items() if q in request.prompt), "4")
            return answer(
                f"<feedback>The attempt starts well; check the last step.</feedback>\n"
                f"<solution>Redo the last step carefully: \\boxed{{{gold}}}.</solution>\n\n"
                f"The answer is \\boxed{{{gold}}}.",
                reasoning_content=f"Work through the problem step by step until it gives {gold}.",
            )
        return Reply(404, json.dumps({"error": {"message": f"no route {request.path}"}}).encode())
