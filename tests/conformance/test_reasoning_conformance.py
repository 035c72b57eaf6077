"""vLLM's and SGLang's reasoning-parser test cases, as data, against our split.

tests/conformance/reasoning/cases.jsonl holds each peer case with its provenance (repo, path,
commit), the parser it tests, its input and the reasoning/content the peer expects, and our
mapping (format, prefixed: the peer's "reasoning starts implicitly" is our --prefixed). Both sides
are compared after our one normalisation: surrounding whitespace stripped, no text = "". A case
marked ``differs`` is one where our documented rule (README: the rule) is not the peer's; it says
why and pins what we give instead. ``n/a`` cases test streaming state, not a split.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from thinkpack_cli.formats import get_format

CASES_FILE = Path(__file__).parent / "reasoning" / "cases.jsonl"
CASES = (
    [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines()] if CASES_FILE.exists() else []
)


def _norm(text):
    return (text or "").strip()


def _split(case):
    fmt = get_format(case["mapping"]["format"])
    return fmt.split(case["input"], case["mapping"]["prefixed"])


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['provenance']['repo'].split('/')[0]}:{c['parser']}:{c['case']}" for c in CASES]
)
def test_case(case):
    if case["verdict"] == "n/a":
        pytest.skip(case["reason"])
    split = _split(case)
    ours = (_norm(split.reasoning), _norm(split.answer))
    theirs = (_norm(case["reasoning"]), _norm(case["content"]))
    if case["verdict"] == "differs":
        assert ours != theirs, "marked as differing on purpose, but we agree now: drop the mark"
        assert (split.reasoning, split.answer, split.status) == tuple(
            case["ours"][k] for k in ("reasoning", "answer", "status")
        )
        return
    assert ours == theirs
    # Where the block is auto-detectable (an opening or closing delimiter), auto agrees too.
    if case["mapping"]["prefixed"] is not True:
        auto = get_format("auto").split(case["input"], case["mapping"]["prefixed"])
        assert (_norm(auto.reasoning), _norm(auto.answer)) == theirs


def test_every_case_has_provenance_and_a_verdict(capsys):
    if not CASES:
        pytest.skip(f"no conformance data at {CASES_FILE}")
    for case in CASES:
        assert set(case["provenance"]) == {"repo", "path", "commit"} and len(case["provenance"]["commit"]) == 40
        assert case["verdict"] in ("agree", "differs", "n/a")
        assert (case["verdict"] == "agree") != bool(case.get("reason"))
    counts = Counter(c["verdict"] for c in CASES)
    by_repo = Counter((c["provenance"]["repo"], c["verdict"]) for c in CASES)
    with capsys.disabled():
        print(
            f"\nreasoning conformance: {len(CASES)} cases: {counts['agree']} agree, "
            f"{counts['differs']} differ on purpose, {counts['n/a']} not applicable; "
            + ", ".join(f"{repo} {verdict} {n}" for (repo, verdict), n in sorted(by_repo.items()))
        )
