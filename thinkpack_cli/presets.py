"""``--preset``: the text, gold, id and group fields of the files other eval tools write, so no jq is needed.

Each preset is a set of paths (see ``paths``) into one tool's own per-sample file, read from that tool's code
(repository, file and commit below). An option given on the command line wins over its preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Preset:
    name: str
    what: str  # the file it reads, for --help and the README
    field: str  # the generated text: a wildcard path gives n samples per record
    gold: str | None
    id: str | None  # what identifies a prompt across runs (and the samples of one prompt across lines)
    by: str | None  # the natural --by (the task), when the file says it: the README suggests it
    source: str  # where the schema comes from


PRESETS = {
    p.name: p
    for p in [
        Preset(
            "lm-eval",
            "lm-evaluation-harness --log_samples samples_TASK_DATE.jsonl",
            field="resps[*][*]",
            gold="target",
            id="doc_id",
            by=None,
            source="EleutherAI/lm-evaluation-harness lm_eval/evaluator.py, loggers/evaluation_tracker.py @4e7e0d4",
        ),
        Preset(
            "lighteval",
            "lighteval --save-details details_TASK_DATE.parquet",
            field="model_response.text[*]",
            gold="doc.choices[doc.gold_index]",
            id="doc.id",
            by="doc.task_name",
            source="huggingface/lighteval logging/evaluation_tracker.py, models/model_output.py, tasks/requests.py @3fd1526",
        ),
        Preset(
            "openai-batch",
            "OpenAI Batch API output file (chat completions), one line per custom_id",
            field="response.body.choices[*].message.content",
            gold=None,
            id="custom_id",
            by=None,
            source="OpenAI API reference, BatchRequestOutput (openapi.yaml)",
        ),
        Preset(
            "vllm",
            "vLLM offline RequestOutput dumps: {request_id, prompt, outputs: [{text, finish_reason, …}]}",
            field="outputs[*].text",
            gold=None,
            id="request_id",
            by=None,
            source="vllm-project/vllm vllm/outputs.py (RequestOutput, CompletionOutput)",
        ),
        Preset(
            "nemo-skills",
            "NeMo-Skills generation output-rsSEED.jsonl",
            field="_full_generation|generation",
            gold="expected_answer",
            id="id|problem",
            by=None,
            source="NVIDIA/NeMo-Skills nemo_skills/inference/generate.py, docs/pipelines/generation.md @0b012df",
        ),
    ]
}
NAMES = tuple(PRESETS)


def get(name: str | None) -> Preset | None:
    if name is None:
        return None
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown --preset {name!r}; choose one of {', '.join(NAMES)}") from None


def apply(
    name: str | None, *, field: str | None = None, gold: str | None = None, id: str | None = None
) -> tuple[str | None, str | None, str | None]:
    """(field, gold, id) with the preset filling what the command line left unset."""
    preset = get(name)
    if preset is None:
        return field, gold, id
    return field or preset.field, gold or preset.gold, id or preset.id


__all__ = ["NAMES", "PRESETS", "Preset", "apply", "get"]
