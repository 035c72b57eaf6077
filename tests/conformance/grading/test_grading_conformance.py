"""Our grading rule against Math-Verify's and lighteval's own test cases (cases.json, from harvest.py).

A case applies when its test runs the default extraction (LaTeX, with or without expressions), in
English, at the default precision, strict. Each applicable case must agree with the peer, except
those in DIFFERENT_ON_PURPOSE, which must differ (so a difference that goes away is noticed too).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from thinkpack_cli.grading import grade_math

CASES = json.loads((Path(__file__).with_name("cases.json")).read_text())

DIFFERENT_ON_PURPOSE = {
    "Math-Verify:test_all.py:132": "expression extraction is on in our rule (as in lighteval's math metrics); this test runs LaTeX alone",
    "Math-Verify:test_all.py:133": "expression extraction is on in our rule (as in lighteval's math metrics); this test runs LaTeX alone",
    "lighteval:test_extractive_match.py:326": "expression extraction is on in our rule; this test runs LaTeX alone",
    "lighteval:test_extractive_match.py:327": "expression extraction is on in our rule; this test runs LaTeX alone",
    "lighteval:test_extractive_match.py:1105": "lighteval's own extractive_match_utils, not Math-Verify 0.9 (our engine gives False too)",
    "lighteval:test_extractive_match.py:1135": "lighteval's own extractive_match_utils, not Math-Verify 0.9 (our engine gives False too)",
    "lighteval:test_extractive_match.py:1140": "lighteval's own extractive_match_utils, not Math-Verify 0.9 (our engine gives True too)",
}


def not_applicable(case: dict) -> str | None:
    """Why a case tests something our rule does not do, or None when it applies."""
    options = case["options"]
    match_types = options.get("match_types", options.get("arg3", ["latex", "expr"]))  # the helpers' default
    language = options.get("arg2") or options.get("language")
    if not isinstance(case["gold"], str) or not isinstance(case["pred"], str):
        return "compares sympy objects, not texts"
    if language and language.get("not_literal") != "Language.ENGLISH":
        return "another language's answer anchors"
    if "latex" not in match_types:
        return f"extraction {match_types} only"
    if options.get("precision", 6) != 6:
        return "a non-default float precision"
    if options.get("strict") is False or options.get("allow_set_relation_comp"):
        return "non-default comparison options"
    return None


APPLICABLE = [c for c in CASES if not_applicable(c) is None]


@pytest.fixture(scope="module", autouse=True)
def quiet_math_verify():
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)


@pytest.mark.parametrize("case", APPLICABLE, ids=[c["id"] for c in APPLICABLE])
def test_case(case):
    verdict = grade_math(case["pred"], case["gold"])
    if case["id"] in DIFFERENT_ON_PURPOSE:
        assert verdict.correct != bool(case["expected"]), f"now agrees: drop it from DIFFERENT_ON_PURPOSE ({verdict})"
    else:
        assert verdict.correct == bool(case["expected"]), verdict


def test_the_harvest_is_whole():
    """Provenance on every case, the differences all real cases, and the counts as reported."""
    ids = {c["id"] for c in CASES}
    assert len(ids) == len(CASES)
    assert set(DIFFERENT_ON_PURPOSE) <= {c["id"] for c in APPLICABLE}
    assert all(c["repo"] and c["path"] and len(c["commit"]) == 40 for c in CASES)
    counts = {
        "agree": len(APPLICABLE) - len(DIFFERENT_ON_PURPOSE),
        "differ": len(DIFFERENT_ON_PURPOSE),
        "not_applicable": len(CASES) - len(APPLICABLE),
    }
    assert counts == {"agree": 397, "differ": 7, "not_applicable": 83}
