"""Grade answers against gold answers: the grading rule and the processes that run it.

``grade_math`` is the rule (README, "The grading rule"): Math-Verify's extraction and comparison, as
lighteval and open-r1 use them, plus documented additions of ours (answer containers, text matches,
multiple-choice letters, Python-syntax and bare LaTeX answers read as math). ``Grader`` runs it over
many (answer, gold) pairs: each distinct pair once, in worker processes, each bounded without signals.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from collections import deque
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Any, NamedTuple

from . import answers, interrupts, python_math

GRADERS = ("math", "exact")
# Grade statuses: why a sample is right or wrong.
GRADED = "graded"  # compared with the gold; ``correct`` says how it went
NO_ANSWER = "no_answer"  # nothing to compare: a truncated sample, an empty answer, a failed request
NO_GOLD = "no_gold"  # the record has no gold answer
UNPARSABLE = "unparsable"  # an answer, but no expression Math-Verify (or the text rule) could extract
TIMEOUT = "timeout"  # grading took longer than the timeout
ERROR = "error"  # the grading process died on the item
GRADE_STATUSES = (GRADED, NO_ANSWER, NO_GOLD, UNPARSABLE, TIMEOUT, ERROR)
# Items per message to a worker: fewer messages, yet many chunks each, since a few answers take
# seconds of sympy (a worker stuck on one should not hold many others behind it).
_MAX_CHUNK = 16


class Verdict(NamedTuple):
    correct: bool
    pred: str | None  # the extracted answer, as text
    status: str  # one of GRADE_STATUSES
    rule: str | None = None  # what decided: "math_verify", "text" or "letter"


# ---------------------------------------------------------------------------- the rule


def grade_exact(answer: str | None, gold: Any) -> Verdict:
    """``--grader exact``: the answer as text (``answers.text_answer``) equals a gold answer after ``strip``."""
    golds = answers.gold_answers(gold)
    if not golds:
        return Verdict(False, None, NO_GOLD)
    pred = answers.extract_answer(answer)
    if pred is None:
        return Verdict(False, None, NO_ANSWER if not answer or answer.isspace() else UNPARSABLE)
    return Verdict(pred.strip() in golds, pred, GRADED, "text")


def quick_verdict(answer: str | None, gold: Any) -> Verdict | None:
    """The verdict of ``grade_math`` when it needs no Math-Verify (cheap, linear), else None."""
    golds = answers.gold_answers(gold)
    if not golds:
        return Verdict(False, None, NO_GOLD)
    if not answer or answer.isspace():
        return Verdict(False, None, NO_ANSWER)
    region, contained = answers.answer_region(answer)
    text = answers.text_answer(region, contained)
    if text is not None:
        normalised = answers.normalise(text)
        if any(normalised == answers.normalise(g) for g in golds):
            return Verdict(True, text, GRADED, "text")
    if all(answers.is_sequence(g) or (contained and answers.is_sequence(region)) for g in golds):
        # Grids and lists match as text only (and did not, above).
        return Verdict(False, text, GRADED if text is not None else UNPARSABLE, "text")
    return None


def grade_math(answer: str | None, gold: Any) -> Verdict:
    """``--grader math``: correct when the answer matches any gold answer by one of, in turn:

    - text: the answer as text equals the gold after light normalisation (case, ``$``,
      ``\\text{}``, spaces, a final period); grids and lists (several lines, or numbers
      apart) match this way only;
    - letter: for a gold that is one capital letter, the choice the answer names;
    - Math-Verify: ``verify(parse(gold), parse(answer))``, the gold read as LaTeX math
      (``$gold$``), the answer with ``LatexExtractionConfig(boxed_match_priority=0)`` and
      ``ExprExtractionConfig`` (boxed first); inside an ``<answer>``/``<output>`` container, the
      container's answer is read like a gold, as are Python-syntax texts (python_math.py, as LaTeX)
      and short bare LaTeX answers.
    """
    quick = quick_verdict(answer, gold)
    return quick if quick is not None else _math_rule(answer, gold)


def _math_rule(answer: str, gold: Any) -> Verdict:
    """``grade_math`` past ``quick_verdict``: letters and Math-Verify."""
    region, contained = answers.answer_region(answer)
    best = None
    for g in answers.gold_answers(gold):
        if answers.is_sequence(g):
            continue
        choice = answers.letter(g)
        verdict = _grade_letter(region, choice) if choice else _grade_expression(region, contained, g)
        if verdict.correct:
            return verdict
        if best is None or (best.status != GRADED and verdict.status == GRADED):
            best = verdict
    return best


def _grade_letter(region: str, choice: str) -> Verdict:
    found = _parse_letter(region, max("D", choice))
    if found is None:
        text = answers.text_answer(region, False)
        found = answers.letter(text.strip("*").strip()) if text else None
    if found is None:
        return Verdict(False, None, UNPARSABLE, "letter")
    return Verdict(found == choice, found, GRADED, "letter")


def _grade_expression(region: str, contained: bool, gold: str) -> Verdict:
    gold_text, pred_text, reading = expression_inputs(region, contained, gold)
    return (
        Verdict(False, None, UNPARSABLE, "math_verify") if pred_text is None else _verify(gold_text, pred_text, reading)
    )


@lru_cache(maxsize=65536)  # different answers often hand Math-Verify the same texts (a container's content)
def _verify(gold_text: str, pred_text: str, reading: int) -> Verdict:
    predicted = _parse(pred_text, reading)
    if not predicted:
        return Verdict(False, None, UNPARSABLE, "math_verify")
    gold = _parse(gold_text, GOLD)
    # verify() is any() over every (gold, prediction) pair, text pairs equal when stripped and
    # non-empty: checking those first gives its verdict without sympy's simplify.
    texts = {g.strip() for g in gold if isinstance(g, str) and g.strip()}
    if any(isinstance(p, str) and p.strip() in texts for p in predicted):
        return Verdict(True, _shown(predicted), GRADED, "math_verify")
    _, verify = _math_verify()
    return Verdict(bool(verify(gold, predicted, timeout_seconds=None)), _shown(predicted), GRADED, "math_verify")


GOLD, PREDICTION = 1, 0  # which of ``math_verify_configs`` reads a text


def expression_inputs(region: str, contained: bool, gold: str) -> tuple[str, str | None, int]:
    """What the rule hands Math-Verify: the gold's text (read as ``GOLD``), the prediction's text
    and how it is read. Outside a container, the whole answer as a prediction (boxed first);
    inside one, the container's answer alone, read like a gold."""
    gold_text, text = answers.as_math(gold), answers.text_answer(region, contained)
    if text is not None and python_math.to_latex(text) is not None:  # boxed, phrased or contained Python syntax
        return gold_text, answers.as_math(text), GOLD
    if not contained:
        if text is not None and text == region.strip() and answers.is_bare_latex(text):
            return gold_text, answers.as_math(text), GOLD  # a short bare answer in LaTeX: read as math, like a gold
        return gold_text, region, PREDICTION
    if text is not None and answers.last_boxed(region) is None and answers.has_math_delimiters(region):
        text = region  # \(…\) or $…$ inside the container: Math-Verify finds it
    return gold_text, None if text is None else answers.as_math(text), GOLD


def _shown(parsed: list) -> str:
    # parse() ends with the matched text (fallback_mode="first_match"); else show the expression.
    return parsed[-1] if isinstance(parsed[-1], str) else str(parsed[0])


@lru_cache(maxsize=65536)  # golds recur once per sampled prediction, and samples repeat answers
def _parse(text: str, reading: int) -> list:
    parse, _ = _math_verify()
    return parse(text, math_verify_configs()[reading], parsing_timeout=None)


@lru_cache(maxsize=32)
def _parse_letter(region: str, last: str) -> str | None:
    from math_verify import StringExtractionConfig

    parse, _ = _math_verify()
    letters = tuple(chr(c) for c in range(ord("A"), ord(last) + 1))
    found = parse(region, [StringExtractionConfig(strings=letters, lowercase=False)], parsing_timeout=None)
    return found[0] if found else None


@lru_cache(maxsize=None)
def math_verify_configs():
    """(prediction configs, gold configs), as lighteval's math metrics use them."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return (
        (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()),
        (LatexExtractionConfig(), ExprExtractionConfig()),
    )


@lru_cache(maxsize=None)
def _math_verify():
    """Math-Verify's parse and verify, imported on first use (slow), silenced and warmed up."""
    # It warns once that its signal-based timeouts are off (ours are the worker processes),
    # and on every answer it cannot parse.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    from math_verify import parse, verify

    verify(parse("$1$", parsing_timeout=None), parse("$1$", parsing_timeout=None), timeout_seconds=None)
    return parse, verify


# ---------------------------------------------------------------------------- running it


class Grader:
    """Grades (answer, gold) pairs; ``method`` is one of ``GRADERS``.

    The answer is an output's text after its reasoning; the gold any value
    (``answers.gold_answers``). ``math`` runs ``grade_math`` in ``workers`` processes
    that live as long as the grader. One silent for ``timeout`` seconds on an item is
    killed and replaced; that item is wrong with status ``timeout`` and counts in
    ``timeouts`` (records, summed over all calls).
    """

    def __init__(self, method: str = "math", timeout: float = 5.0, workers: int | None = None):
        if method not in GRADERS:
            raise ValueError(f"unknown grader {method!r}; choose from {', '.join(GRADERS)}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.method = method
        self.timeout = timeout
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.timeouts = 0
        self._pool: list[_Worker] = []
        self._context = None

    def grade(self, pairs: list[tuple[str | None, Any]]) -> list[bool]:
        """For each (answer, gold) pair: is the answer correct?"""
        return [verdict.correct for verdict in self.verdicts(pairs)]

    def verdicts(self, pairs: list[tuple[str | None, Any]], progress=None) -> list[Verdict]:
        """A ``Verdict`` for each (answer, gold) pair; ``progress.advance`` per pair graded."""
        # Eval sets repeat answers a lot: grade each distinct pair once.
        distinct: dict[tuple[str | None, Any], int] = {}
        slots = [distinct.setdefault((answer, _key(gold)), len(distinct)) for answer, gold in pairs]
        results = self._grade_distinct([(answer, gold) for answer, gold in distinct], progress)
        self.timeouts += sum(results[slot].status == TIMEOUT for slot in slots)
        return [results[slot] for slot in slots]

    def close(self) -> None:
        """Stops the worker processes (daemons: exiting the program stops them too)."""
        for worker in self._pool:
            worker.kill()
        self._pool.clear()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _grade_distinct(self, pairs: list[tuple[str | None, Any]], progress) -> list[Verdict]:
        if self.method == "exact":
            return [grade_exact(answer, gold) for answer, gold in pairs]
        results: list[Verdict | None] = [quick_verdict(answer, gold) for answer, gold in pairs]
        if progress is not None:
            progress.advance(sum(r is not None for r in results))
        # Items with one gold next to each other: a worker then parses that gold once.
        undecided = sorted(
            ((i, pair) for i, pair in enumerate(pairs) if results[i] is None), key=lambda item: str(item[1][1])
        )
        if undecided:
            self._run(undecided, results, progress)
        return results

    def _run(self, items: list[tuple[int, tuple]], results: list, progress) -> None:
        """Sets ``results[i]`` by ``grade_math`` for each (i, pair) in ``items``, spread over
        the workers in chunks; an item whose worker went silent or died gets its status."""
        size = max(1, min(_MAX_CHUNK, math.ceil(len(items) / (16 * self.workers))))
        chunks = deque(items[start : start + size] for start in range(0, len(items), size))
        workers = self._start_workers(min(self.workers, len(chunks)))
        while chunks or any(worker.pending for worker in workers):
            for worker in workers:
                if not worker.pending and chunks:
                    worker.send(chunks.popleft(), self.timeout)
            busy = {worker.conn: worker for worker in workers if worker.pending}
            deadline = min(worker.deadline for worker in busy.values())
            for conn in wait(list(busy), None if deadline == math.inf else max(0.0, deadline - time.monotonic())):
                worker = busy[conn]
                try:
                    for i, verdict in worker.receive(self.timeout):
                        results[i] = verdict
                        if progress is not None:
                            progress.advance(1)
                except (EOFError, OSError):  # the worker died on an item (a crash, not a timeout)
                    self._settle(worker.restart(self.timeout), ERROR, results, progress)
            now = time.monotonic()
            for worker in busy.values():
                if worker.deadline <= now and not worker.conn.poll():
                    self._settle(worker.restart(self.timeout), TIMEOUT, results, progress)

    @staticmethod
    def _settle(index: int | None, status: str, results: list, progress) -> None:
        if index is not None:
            results[index] = Verdict(False, None, status)
            if progress is not None:
                progress.advance(1)

    def _start_workers(self, count: int) -> list[_Worker]:
        if not self._pool:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            if context.get_start_method() == "fork":
                _math_verify()  # forked workers, replacements included, inherit it loaded and warm
                math_verify_configs()
            self._context = context
        for worker in self._pool:
            if not worker.process.is_alive():  # killed from outside (say by the OOM killer) since the last call
                worker.restart(self.timeout)
        while len(self._pool) < count:
            self._pool.append(_Worker(self._context))
        return self._pool[:count]


def _key(gold: Any) -> Any:
    """A hashable stand-in for a gold value (lists as tuples), grading the same."""
    if isinstance(gold, list):
        return tuple(_key(g) for g in gold)
    if isinstance(gold, dict):
        return str(gold)
    return gold


class _Worker:
    """A grading process and the parent's view of it: the items sent and not yet answered, in order."""

    def __init__(self, context):
        self.context = context
        self.pending: deque[tuple[int, tuple]] = deque()
        self._start()

    def _start(self) -> None:
        self.conn, child_end = self.context.Pipe()
        self.process = self.context.Process(target=_serve, args=(child_end, self.conn, os.getpid()), daemon=True)
        self.process.start()
        child_end.close()
        self.ready = False  # the clock starts once the worker has loaded Math-Verify
        self.deadline = math.inf

    def send(self, items: list[tuple[int, tuple]], timeout: float) -> None:
        self.conn.send([pair for _, pair in items])
        self.pending.extend(items)
        if self.ready:
            self.deadline = time.monotonic() + timeout

    def receive(self, timeout: float):
        """Yields (index, verdict) for each answer waiting in the pipe."""
        while self.pending and self.conn.poll():
            verdict = self.conn.recv()
            if verdict is None:
                self.ready = True
            else:
                yield self.pending.popleft()[0], Verdict(*verdict)
            self.deadline = time.monotonic() + timeout if self.pending else math.inf

    def restart(self, timeout: float) -> int | None:
        """Replaces the process with a fresh one that takes the pending items after the
        one the old process was on; returns that one's index (None if there was none)."""
        self.kill()
        stuck = self.pending.popleft()[0] if self.pending else None
        rest = list(self.pending)
        self.pending.clear()
        self._start()
        if rest:
            self.send(rest, timeout)
        return stuck

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


def _serve(conn: Connection, parent_end: Connection, parent: int) -> None:
    """Worker loop: receives lists of (answer, gold), sends one verdict per item, in order."""
    # Our inherited copy of the parent's end would keep the pipe open after the parent died.
    parent_end.close()
    # It dies with the parent even mid-item (a sympy call can run for minutes); Ctrl-C reaching the
    # whole process group is the parent's to handle.
    interrupts.bind_worker(parent)
    _math_verify()
    conn.send(None)
    try:
        while True:
            for answer, gold in conn.recv():
                try:
                    verdict = _math_rule(answer, gold)
                except Exception:  # Math-Verify failing on an item: the item is wrong, the run goes on
                    verdict = Verdict(False, None, ERROR)
                conn.send(tuple(verdict))
    except (EOFError, OSError):
        pass
