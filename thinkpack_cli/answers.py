"""Where the final answer sits in an output, and what a gold answer allows.

Pure, linear-time text functions (no Math-Verify): they run on every sample, in
the parent process, before anything is handed to Math-Verify under a timeout.
``answer_region`` narrows an answer to its last ``<answer>``/``<output>``
container; ``text_answer`` is the answer as text (what ``--grader exact`` and the
text rule compare); ``gold_answers`` turns a gold value into the answers it allows.
"""

from __future__ import annotations

import re
from typing import Any

from . import python_math
from .formats.base import last_match

# Longer free text with nothing to extract is not an answer: comparing it would only cost time.
SHORT_ANSWER = 64

_CONTAINER_OPEN = re.compile(r"<(answer|output)\b[^<>]{0,200}>", re.IGNORECASE)
_CONTAINER_CLOSE = {
    "answer": re.compile(r"</answer\s*>", re.IGNORECASE),
    "output": re.compile(r"</output\s*>", re.IGNORECASE),
}
_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
_BRACE = re.compile(r"[{}]")
_UNBRACED_BOXED_ARG = re.compile(r"[^\s${}]+")
_ANSWER_ANCHOR = re.compile(r"\banswer\s*(?:is\b|:)", re.IGNORECASE)
# The answer runs to the end of its line or sentence (a period followed by a digit is a decimal
# point), within a window: a phrase is short, and a bounded look keeps many anchors linear.
_PHRASE_END = re.compile(r"\n|\.(?!\d)")
_PHRASE_WINDOW = 256
_GSM8K_GOLD = "####"
_LETTER_GOLD = re.compile(r"\(?([A-Z])\)?\.?")
_MATH_DELIMITERS = ("$", "\\(", "\\[", "\\boxed", "\\fbox")
_LATEX_MARK = re.compile(r"\^|_|\\[A-Za-z]")  # a power, a subscript or a command
_TEXT_WRAPPER = re.compile(r"\\text\{([^{}]*)\}")
# Several numbers apart, or several lines: a grid or a list. Math-Verify would pick one
# number out of it and call "0" equal to a grid of zeros, so such answers match as text.
_SEQUENCE = re.compile(r"\n[^\S\n]*\S|\d\s+[-+]?\d")


def answer_region(text: str) -> tuple[str, bool]:
    """The part of ``text`` that holds the answer, and whether a container delimits it:
    the inside of the last ``<answer>``/``<output>`` (unclosed: the rest of the text),
    else the whole text."""
    opening = last_match(_CONTAINER_OPEN, text)
    if opening is None:
        return text, False
    closing = _CONTAINER_CLOSE[opening[1].lower()].search(text, opening.end())
    return text[opening.end() : closing.start() if closing else len(text)], True


def text_answer(region: str, contained: bool) -> str | None:
    """The answer as text: the last ``\\boxed{}``/``\\fbox{}``; else the expression after
    the last "answer is" / "answer:"; else a container's whole content, or a short
    one-line answer as it is ("B", "Paris"). None when there is none of these."""
    answer = last_boxed(region) or _last_answer_phrase(region)
    if answer is None:
        bare = region.strip()
        if bare and (contained or (len(bare) <= SHORT_ANSWER and "\n" not in bare)):
            answer = bare
    return answer


def extract_answer(text: str | None) -> str | None:
    """The final answer in ``text`` (an output's part after its reasoning) as text, or None."""
    if not text or text.isspace():
        return None
    return text_answer(*answer_region(text))


def last_boxed(text: str) -> str | None:
    """The content of the last closed ``\\boxed{…}`` (or ``\\boxed x``), in one pass over the braces."""
    boxes = [box.end() for box in _BOXED.finditer(text)]
    if not boxes:
        return None
    closing: dict[int, int] = {}  # the position of each "{" -> its matching "}"
    stack: list[int] = []
    for brace in _BRACE.finditer(text, boxes[0]):
        if brace[0] == "{":
            stack.append(brace.start())
        elif stack:
            closing[stack.pop()] = brace.start()
    for start in reversed(boxes):
        if text.startswith("{", start):
            end = closing.get(start)
            content = text[start + 1 : end] if end is not None else None
        else:
            arg = _UNBRACED_BOXED_ARG.match(text, start)
            content = arg[0] if arg else None
        if content and not content.isspace():
            return content.strip()
    return None


def _last_answer_phrase(text: str) -> str | None:
    for anchor in reversed(list(_ANSWER_ANCHOR.finditer(text))):
        window = text[anchor.end() : anchor.end() + _PHRASE_WINDOW].lstrip(" \t\n:*")
        end = _PHRASE_END.search(window)
        answer = window[: end.start() if end else len(window)].strip(" \t*$").strip()
        if answer:
            return answer
    return None


def gold_answers(gold: Any) -> list[str]:
    """The answers a gold value allows: any one of a list's; the final answer of a GSM8K
    solution (the text after its last ``####``); numbers as text. Empty: no gold."""
    if gold is None:
        return []
    if isinstance(gold, (list, tuple)):
        return [answer for item in gold for answer in gold_answers(item)]
    text = gold if isinstance(gold, str) else str(gold)
    if _GSM8K_GOLD in text:
        text = text.rsplit(_GSM8K_GOLD, 1)[1]
    text = text.strip()
    return [text] if text else []


def letter(gold: str) -> str | None:
    """The choice a multiple-choice gold names ("B", "(B)", "B."), else None."""
    m = _LETTER_GOLD.fullmatch(gold)
    return m[1] if m else None


def has_math_delimiters(text: str) -> bool:
    return any(d in text for d in _MATH_DELIMITERS)


def as_math(text: str) -> str:
    """``text`` as Math-Verify reads a gold: LaTeX math; Python syntax (``x**2``) in the LaTeX it stands for."""
    python = python_math.to_latex(text)
    if python is not None:
        return f"${python}$"
    return text if has_math_delimiters(text) else f"${text}$"


def is_bare_latex(text: str) -> bool:
    """LaTeX math written without delimiters (``738z^5 - 700z``, ``\\frac{x^2}{3} + C``)."""
    return not has_math_delimiters(text) and _LATEX_MARK.search(text) is not None


def is_sequence(answer: str) -> bool:
    """A grid or list of plain values (LaTeX spanning lines, say a matrix, is not one; nor is a Python
    polynomial, ``-7*x**8 -8*x**6``)."""
    return (
        "\\" not in answer
        and "$" not in answer
        and _SEQUENCE.search(answer.strip()) is not None
        and not python_math.is_python_math(answer.strip())
    )


def normalise(answer: str) -> str:
    """Casefolded, without surrounding ``$``, ``\\text{}`` wrappers, extra whitespace or a trailing period."""
    answer = _TEXT_WRAPPER.sub(r"\1", strip_dollars(answer.strip()))
    return " ".join(answer.split()).removesuffix(".").rstrip().casefold()


def strip_dollars(answer: str) -> str:
    return answer.strip("$").strip() if answer.startswith("$") and answer.endswith("$") else answer
