"""``--preset``: each tool's own per-sample file, built from that tool's documented schema, read without jq.

Provenance of each fixture's shape:
- lm-eval: EleutherAI/lm-evaluation-harness@4e7e0d4, lm_eval/evaluator.py (the logged ``example`` dict) and
  lm_eval/loggers/evaluation_tracker.py (``save_results_samples``: arguments re-keyed, resps stringified).
- lighteval: huggingface/lighteval@3fd1526, logging/evaluation_tracker.py (``Dataset.from_list(asdict(detail))``,
  sorted columns, ``to_parquet``), models/model_output.py (ModelResponse), tasks/requests.py (Doc).
- OpenAI batch: the API reference's BatchRequestOutput (id, custom_id, response{status_code, request_id, body}, error).
- vLLM: vllm/outputs.py RequestOutput / CompletionOutput fields, as offline scripts dump them.
- NeMo-Skills: NVIDIA/NeMo-Skills@0b012df, inference/generate.py (original fields + generation, num_generated_tokens,
  finish_reason; ``_full_generation`` with parse_reasoning) and docs/pipelines/generation.md.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from thinkpack_cli import paths, presets
from thinkpack_cli.cli import app
from thinkpack_cli.errors import UsageError


def tp(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def stats_json(*args):
    result = tp("stats", *args, "--grader", "exact", "--json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------- the path syntax


RECORD = {
    "outputs": [{"text": "a", "finish_reason": "stop"}, {"text": "b"}],
    "doc": {"choices": ["x", "y"], "gold_index": 1},
    "resps": [["p", "q"], ["r"]],
    "a.b": 3,
    "meta": {"k.v": {"c": 4}},
    "choices": [{"message": {"content": "hi"}}],
}


@pytest.mark.parametrize(
    "path,value",
    [
        ("outputs[*].text", ["a", "b"]),
        ("outputs.*.text", ["a", "b"]),
        ("resps[*][*]", ["p", "q", "r"]),
        ("resps[0][-1]", "q"),
        ("choices.0.message.content", "hi"),
        ("choices[0].message.content", "hi"),
        ("doc.choices[doc.gold_index]", "y"),
        ("a.b", 3),  # a top-level name holding a dot
        ('meta["k.v"].c', 4),
        ("nothing|choices.0.message.content", "hi"),
        ("nothing", None),
        ("outputs[5].text", None),
    ],
)
def test_path_syntax(path, value):
    assert paths.get(RECORD, path) == value


def test_a_path_that_cannot_be_read_is_a_usage_error():
    with pytest.raises(UsageError):
        paths.compile("outputs[")


def test_unknown_preset_is_refused():
    result = tp("stats", "--preset", "helm", "-")
    assert result.exit_code == 2
    assert "lm-eval" in result.output  # the choices are named


# ---------------------------------------------------------------------------- each tool's file


def test_lm_eval_log_samples(tmp_path):
    def sample(doc_id, answer, resps):
        return {
            "doc_id": doc_id,
            "doc": {"problem": f"problem {doc_id}", "answer": answer},
            "target": answer,
            "arguments": {
                "gen_args_0": {
                    "arg_0": f"Problem: problem {doc_id}\nAnswer:",
                    "arg_1": {"until": ["Problem:"], "max_gen_toks": 32768, "do_sample": True},
                }
            },
            "resps": [resps],
            "filtered_resps": [resps[0]],
            "filter": "none",
            "metrics": ["exact_match"],
            "doc_hash": "ab" * 32,
            "prompt_hash": "cd" * 32,
            "target_hash": "ef" * 32,
            "exact_match": 1.0,
        }

    path = jsonl(
        tmp_path / "samples_aime24_2025-01-01T00-00-00.jsonl",
        [
            sample(0, "70", ["<think>add</think>\\boxed{70}", "<think>hmm</think>\\boxed{71}"]),  # repeats: 2
            sample(1, "9", ["<think>cut off", "<think>ok</think>\\boxed{9}"]),
        ],
    )
    m = stats_json(path, "--preset", "lm-eval", "--k", "2")
    assert m["total"] == 4 and m["truncated_rate"] == 0.25
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["pass@2"] == 1.0


def test_lighteval_details_parquet(tmp_path):
    datasets = pytest.importorskip("datasets")

    def detail(i, gold, texts, task="lighteval|aime24|0"):
        doc = {
            "query": f"Solve {i}",
            "choices": [gold],
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
            "generation_size": 32768,
            "stop_sequences": [],
            "use_logits": False,
            "num_samples": len(texts),
            "generation_grammar": None,
        }
        response = {
            "input": f"Solve {i}",
            "input_tokens": [1, 2],
            "text": texts,
            "output_tokens": [[3]] * len(texts),
            "text_post_processed": None,
            "reasonings": [None] * len(texts),
            "logprobs": [],
            "argmax_logits_eq_gold": [],
            "logits": None,
            "unconditioned_logprobs": None,
            "truncated_tokens_count": 0,
            "padded_tokens_count": 0,
        }
        return {"doc": doc, "model_response": response, "metric": {"pass@k:k=1&n=1": 1.0}}

    rows = [
        detail(0, "$70$", ["<think>a</think>$70$"]),
        detail(1, "$9$", ["<think>b</think>$8$"]),
        detail(2, "$5$", ["<think>never closed"]),
    ]
    dataset = datasets.Dataset.from_list(rows)
    dataset = dataset.select_columns(sorted(dataset.column_names))  # as lighteval saves it
    path = tmp_path / "details_lighteval|aime24|0_2025-01-01T00-00-00.parquet"
    dataset.to_parquet(str(path))
    rows_out = stats_json(path, "--preset", "lighteval", "--by", "doc.task_name")
    assert len(rows_out) == 1 and rows_out[0]["doc.task_name"] == "lighteval|aime24|0"
    m = rows_out[0]
    assert m["total"] == 3 and m["graded"] == 3 and m["truncated_rate"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(1 / 3)  # gold is doc.choices[doc.gold_index]


def _batch_line(custom_id, content, finish="stop", reasoning=None):
    message = {"role": "assistant", "content": content, "refusal": None}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": f"req_{custom_id}",
            "body": {
                "id": f"chatcmpl-{custom_id}",
                "object": "chat.completion",
                "created": 1711652795,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": {"prompt_tokens": 22, "completion_tokens": 2, "total_tokens": 24},
                "system_fingerprint": "fp_123",
            },
        },
        "error": None,
    }


def test_openai_batch_output(tmp_path):
    path = jsonl(
        tmp_path / "batch_output.jsonl",
        [
            _batch_line("q1", "<think>2+2</think>4"),
            _batch_line("q2", "", finish="length", reasoning="still thinking"),  # a server-split trace, cut
            _batch_line("q3", "5", reasoning="so 5"),
        ],
    )
    m = stats_json(path, "--preset", "openai-batch", "--grader", "none")
    assert m["total"] == 3
    assert (m["valid_rate"], m["truncated_rate"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))


def test_vllm_request_output_dump(tmp_path):
    def output(index, text, finish):
        return {
            "index": index,
            "text": text,
            "token_ids": [1, 2, 3],
            "cumulative_logprob": -1.5,
            "logprobs": None,
            "finish_reason": finish,
            "stop_reason": None,
        }

    path = jsonl(
        tmp_path / "vllm.jsonl",
        [
            {
                "request_id": "0",
                "prompt": "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
                "prompt_token_ids": [1, 2],
                "encoder_prompt": None,
                "encoder_prompt_token_ids": None,
                "prompt_logprobs": None,
                "finished": True,
                "num_cached_tokens": 0,
                "gold": "4",
                "outputs": [
                    output(0, "<think>sum</think>\\boxed{4}", "stop"),
                    output(1, "<think>so", "length"),
                    output(2, "<think>x</think>\\boxed{5}", "stop"),
                ],
            },
        ],
    )
    m = stats_json(path, "--preset", "vllm")
    assert m["total"] == 3 and m["truncated_rate"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(1 / 3)


def test_nemo_skills_output_across_seeds(tmp_path):
    def line(i, problem, expected, generation, full=None):
        record = {
            "id": f"aime25-{i}",
            "problem": problem,
            "expected_answer": expected,
            "generation": generation,
            "num_generated_tokens": 120,
            "finish_reason": "stop",
            "predicted_answer": None,
            "symbolic_correct": None,
        }
        if full is not None:  # written with ++parse_reasoning=True: the full text moves here
            record["_full_generation"] = full
        return record

    rs0 = jsonl(
        tmp_path / "output-rs0.jsonl",
        [
            line(0, "p0", "70", "\\boxed{70}", full="<think>work</think>\\boxed{70}"),
            line(1, "p1", "9", "\\boxed{9}", full="<think>work</think>\\boxed{9}"),
        ],
    )
    rs1 = jsonl(
        tmp_path / "output-rs1.jsonl",
        [line(0, "p0", "70", "<think>work</think>\\boxed{70}"), line(1, "p1", "9", "<think>work</think>\\boxed{8}")],
    )
    first, second = stats_json(rs0, rs1, "--preset", "nemo-skills")
    assert first["valid_rate"] == 1.0  # the reasoning was read from _full_generation
    assert (first["accuracy"], second["accuracy"]) == (1.0, 0.5)
    assert second["delta"]["accuracy.paired"] == 2  # the preset's id pairs prompts across seeds


def test_an_option_given_wins_over_its_preset(tmp_path):
    path = jsonl(
        tmp_path / "vllm.jsonl",
        [{"request_id": "0", "outputs": [{"text": "<think>a</think>1"}], "alt": "<think>never"}],
    )
    m = stats_json(path, "--preset", "vllm", "--field", "alt", "--grader", "none")
    assert m["truncated_rate"] == 1.0


def test_parse_takes_the_preset_field(tmp_path):
    path = jsonl(
        tmp_path / "vllm.jsonl",
        [
            {
                "request_id": "0",
                "outputs": [
                    {"text": "<think>a</think>1", "finish_reason": "stop"},
                    {"text": "2", "finish_reason": "stop"},
                ],
            }
        ],
    )
    result = tp("parse", path, "--preset", "vllm", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == ["valid", "missing"]


def test_every_preset_is_documented():
    readme = presets.__file__.rsplit("/thinkpack_cli/", 1)[0] + "/README.md"
    text = open(readme, encoding="utf-8").read()
    section = text.split("## Other tools' files: `--preset` and field paths")[1].split("\n## ")[0]
    for preset in presets.PRESETS.values():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{preset.name}` |"))
        assert all(f"`{alternative}`" in row for alternative in preset.field.split("|")), preset.name
        assert preset.id is None or all(f"`{alternative}`" in row for alternative in preset.id.split("|")), preset.name


def test_gold_joined_from_a_separate_file_by_id(tmp_path):
    outputs = jsonl(
        tmp_path / "batch_output.jsonl",
        [
            _batch_line("q1", "<think>2+2</think>4"),
            _batch_line("q2", "<think>3+3</think>7"),
            _batch_line("q3", "<think>1+1</think>2"),
        ],
    )
    golds = jsonl(
        tmp_path / "questions.jsonl",
        [
            {"custom_id": "q1", "question": "2+2?", "answer": "4"},
            {"custom_id": "q2", "question": "3+3?", "answer": "6"},
            {"custom_id": "q3", "question": "1+1?", "answer": "2"},
        ],
    )
    m = stats_json(outputs, "--preset", "openai-batch", "--gold-file", golds)
    assert m["graded"] == 3 and m["accuracy"] == pytest.approx(2 / 3)
    # the gold field of the gold file can be named, and a gold file needs an id to join on
    renamed = jsonl(tmp_path / "q.jsonl", [{"custom_id": "q1", "solution": "4"}])
    assert stats_json(outputs, "--preset", "openai-batch", "--gold-file", renamed, "--gold", "solution")["graded"] == 1
    no_id = tp("stats", outputs, "--field", "response.body.choices[*].message.content", "--gold-file", golds)
    assert no_id.exit_code == 2 and "--id" in no_id.output
    clash = jsonl(tmp_path / "clash.jsonl", [{"custom_id": "q1", "gold": "4"}, {"custom_id": "q1", "gold": "5"}])
    bad = tp("stats", outputs, "--preset", "openai-batch", "--gold-file", clash)
    assert bad.exit_code == 2 and "two different golds" in bad.output
