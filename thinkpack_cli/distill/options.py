"""What a distill run is asked to do: its options and their vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..grading import GRADERS

MODES = ("construct", "solve", "feedback")
KEEP = ("first", "correct", "all")
# The fields each mode adds to a record; a record's gold answer is never read from one of them.
WRITES = {
    "construct": ("reasoning",),
    "solve": ("reasoning", "response", "correct"),
    "feedback": ("reasoning", "feedback", "guided_solution"),
}
META = "distill"  # the output field with the record's key and the sample's provenance
MAX_RESPONSE_BYTES = 64 << 20  # a longer body is a misbehaving server, not an answer: it is not read on


@dataclass(frozen=True)
class DistillOptions:
    base_url: str
    model: str
    mode: str = "construct"
    n: int = 1  # samples drawn per record, at most
    keep: str = "correct"  # solve: first correct sample, every correct one, or all (marked)
    concurrency: int = 32
    max_retries: int = 6
    timeout: float = 120.0
    backoff: float = 1.0  # seconds before the first retry; doubles with each
    temperature: float | None = None
    max_tokens: int | None = None
    template: str | None = None  # a Jinja file; None: the mode's own
    id_field: str | None = None  # None: records are keyed by a hash of their content
    question_field: str | None = None
    gold_field: str | None = None
    grader: str = "math"
    retry_rejected: bool = False
    max_retry_wait: float = 60.0  # the longest wait a Retry-After header gets
    max_response_bytes: int = MAX_RESPONSE_BYTES


def check_options(options: DistillOptions) -> None:
    for name, value, allowed in (
        ("--mode", options.mode, MODES),
        ("--keep", options.keep, KEEP),
        ("--grader", options.grader, GRADERS),
    ):
        if value not in allowed:
            raise UsageError(f"{name} must be one of {', '.join(allowed)}")
    if options.keep != "correct" and options.mode != "solve":
        raise UsageError("--keep applies to --mode solve, which grades answers")
    if options.gold_field in WRITES[options.mode]:
        raise UsageError(f"--gold {options.gold_field}: --mode {options.mode} writes that field")
    if not options.base_url.startswith(("http://", "https://")):
        raise UsageError("--base-url must start with http:// or https://, e.g. http://localhost:8000/v1")
