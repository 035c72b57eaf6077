"""Judging a teacher's answer: a usable trace, or the reason it is rejected."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..formats import EMPTY, MISSING, TRUNCATED
from .teacher import Reply

_FEEDBACK = re.compile(r"<feedback>(.*?)</feedback>", re.DOTALL | re.IGNORECASE)
_SOLUTION = re.compile(r"<solution>(.*?)</solution>", re.DOTALL | re.IGNORECASE)


@dataclass(slots=True)
class Trace:
    """One usable answer: the fields its mode adds to the record."""

    fields: dict[str, Any]
    completion: Reply
    index: int


def judge(completion: Reply, mode: str, parser, index: int) -> Trace | str:
    """The sample, or why it is no trace (the reason a rejected record gives)."""
    if completion.finish == "length":
        return "cut off at the token limit (finish_reason length)"
    text: dict[str, Any] = {"content": completion.content}
    if completion.reasoning is not None:
        text["reasoning_content"] = completion.reasoning
    split = parser.split_record(text)
    if split.status == TRUNCATED:
        return "the reasoning block never closes"
    if mode == "feedback":
        feedback, solution = _FEEDBACK.search(split.answer), _SOLUTION.search(split.answer)
        for match, tag in ((feedback, "feedback"), (solution, "solution")):
            if match is None or not match[1].strip():
                return f"no <{tag}>…</{tag}> in the response"
        fields = {
            "reasoning": split.reasoning or None,  # a guided solution needs no trace of its own
            "feedback": feedback[1].strip(),
            "guided_solution": solution[1].strip(),
        }
        return Trace(fields, completion, index)
    if split.status == MISSING:
        return "no reasoning in the response"
    if split.status == EMPTY:
        return "empty reasoning"
    if mode == "solve":
        if not split.answer:
            return "no answer after the reasoning"
        return Trace({"reasoning": split.reasoning, "response": split.answer}, completion, index)
    return Trace({"reasoning": split.reasoning}, completion, index)


def rejection(reasons: list[str]) -> str:
    counts = Counter(reasons)
    if len(reasons) == 1:
        return reasons[0]
    return f"no usable sample in {len(reasons)}: " + "; ".join(f"{n}× {reason}" for reason, n in counts.items())
