"""Extract final answers and grade them against gold answers.

``extract_answer`` pulls the final answer out of the text that follows the reasoning.
``Grader`` compares predictions with gold answers, by exact string or by mathematical
equivalence (Math-Verify), bounding the time spent on each item without signals.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import signal
import time
from collections import deque
from functools import lru_cache
from multiprocessing.connection import Connection, wait

GRADERS = ("math", "exact")
# Longer free text with nothing to extract is not an answer: comparing it would only cost time.
SHORT_ANSWER = 64

_CONTAINER_OPEN = re.compile(r"<(answer|output)\b[^>]*>", re.IGNORECASE)
_CONTAINER_CLOSE = {
    "answer": re.compile(r"</answer\s*>", re.IGNORECASE),
    "output": re.compile(r"</output\s*>", re.IGNORECASE),
}
_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
_UNBRACED_BOXED_ARG = re.compile(r"[^\s${}]+")
_ANSWER_ANCHOR = re.compile(r"\banswer\s*(?:is\b|:)", re.IGNORECASE)
# The answer runs to the end of its line or sentence; a period followed by a digit is a decimal point.
_ANSWER_PHRASE = re.compile(r"[\s:]*([^\n]*?)\s*(?:\.(?!\d)|\n|$)")
_NUMBER = re.compile(r"(?:(?<![\w)\]}])-)?(?<![\d.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?!\d)")


def extract_answer(text: str | None) -> str | None:
    """The final answer in ``text`` (the part of an output after its reasoning), or None.

    Inside the last ``<answer>``/``<output>`` container (unclosed: the rest of the text),
    the last ``\\boxed{}``/``\\fbox{}``, else an "answer is X" phrase, else the whole
    content: a container holds the answer, so a grid or a tuple stays whole. In free
    text: the last ``\\boxed{}``; the last "answer is X" / "answer: X" phrase; the final
    number (thousands separators dropped); a short one-line answer as it is ("B", "Paris").
    """
    if not text or text.isspace():
        return None
    container = _last_container(text)
    if container is not None:
        return _last_boxed(container) or _last_answer_phrase(container) or container.strip() or None
    answer = _last_boxed(text) or _last_answer_phrase(text) or _final_number(text)
    if answer is None:
        bare = text.strip()
        if len(bare) <= SHORT_ANSWER and "\n" not in bare:
            answer = bare
    return answer


def _last_container(text: str) -> str | None:
    opening = None
    for opening in _CONTAINER_OPEN.finditer(text):
        pass
    if opening is None:
        return None
    closing = _CONTAINER_CLOSE[opening[1].lower()].search(text, opening.end())
    return text[opening.end() : closing.start() if closing else len(text)]


def _last_boxed(text: str) -> str | None:
    for box in reversed(list(_BOXED.finditer(text))):
        start = box.end()
        if text.startswith("{", start):
            content = _braced(text, start)
        else:
            arg = _UNBRACED_BOXED_ARG.match(text, start)
            content = arg[0] if arg else None
        if content and not content.isspace():
            return content.strip()
    return None


def _braced(text: str, start: int) -> str | None:
    """The content of the balanced ``{…}`` group opening at ``start``; None if never closed."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _last_answer_phrase(text: str) -> str | None:
    for anchor in reversed(list(_ANSWER_ANCHOR.finditer(text))):
        answer = _ANSWER_PHRASE.match(text, anchor.end())[1].strip(" \t*$").removesuffix(".").strip()
        if answer:
            return answer
    return None


def _final_number(text: str) -> str | None:
    number = None
    for number in _NUMBER.finditer(text):
        pass
    return number[0].replace(",", "") if number else None


_TEXT_WRAPPER = re.compile(r"\\text\{([^{}]*)\}")
_MAX_CHUNK = 64  # items per message to a worker: fewer messages, yet several chunks each to even out the load


class Grader:
    """Grades (prediction, gold) pairs; ``method`` is one of ``GRADERS``.

    ``exact``: equal after ``str.strip``. ``math``: equal after light normalisation
    (``_normalise``), else equivalent by Math-Verify. Both sides are parsed as LaTeX math
    (wrapped in ``$…$``): a prediction is an extracted answer, not prose, and this makes
    "2,280" = 2280, "0.5" = \\frac{1}{2}, "1/2" = \\frac12 and "x=3" = 3, which Math-Verify's
    default plain-text extraction gets wrong for some forms ("\\frac12", "\\sqrt{8}", "1,2").

    Math-Verify runs in ``workers`` processes that live as long as the grader. One silent
    for ``timeout`` seconds on an item is killed and replaced, and that item counts as
    wrong and in ``timeouts`` (records, summed over all ``grade`` calls). A None prediction
    or gold, and any error grading an item, count as wrong.
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

    def grade(self, pairs: list[tuple[str | None, object]]) -> list[bool]:
        """For each (prediction, gold) pair: is the prediction correct? Gold is compared as ``str(gold)``."""
        # Eval sets repeat answers a lot: grade each distinct pair once.
        distinct: dict[tuple[str | None, str | None], int] = {}
        slots = [distinct.setdefault((pred, None if gold is None else str(gold)), len(distinct)) for pred, gold in pairs]
        verdicts, timed_out = self._grade_distinct(list(distinct))
        if timed_out:
            self.timeouts += sum(slot in timed_out for slot in slots)
        return [verdicts[slot] for slot in slots]

    def close(self) -> None:
        """Stops the worker processes (daemons: exiting the program stops them too)."""
        for worker in self._pool:
            worker.kill()
        self._pool.clear()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _grade_distinct(self, pairs: list[tuple[str | None, str | None]]) -> tuple[list[bool], set[int]]:
        verdicts = [False] * len(pairs)
        undecided: list[tuple[int, tuple[str, str]]] = []
        for i, (pred, gold) in enumerate(pairs):
            if pred is None or gold is None:
                continue
            if self.method == "exact":
                verdicts[i] = pred.strip() == gold.strip()
            elif (normalised := _normalise(pred)) and normalised == _normalise(gold):
                verdicts[i] = True
            elif not (_is_sequence(pred) or _is_sequence(gold)):
                undecided.append((i, (pred, gold)))
        timed_out = self._verify(undecided, verdicts) if undecided else set()
        return verdicts, timed_out

    def _verify(self, items: list[tuple[int, tuple[str, str]]], verdicts: list[bool]) -> set[int]:
        """Sets ``verdicts[i]`` by Math-Verify for each (i, pair) in ``items``, spread over
        the workers in chunks; returns the indices that timed out (left False)."""
        size = max(1, min(_MAX_CHUNK, math.ceil(len(items) / (4 * self.workers))))
        chunks = deque(items[start : start + size] for start in range(0, len(items), size))
        workers = self._start_workers(min(self.workers, len(chunks)))
        timed_out = set()
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
                        verdicts[i] = verdict
                except (EOFError, OSError):  # the worker died on an item (a crash, not a timeout): it stays wrong
                    worker.restart(self.timeout)
            now = time.monotonic()
            for worker in busy.values():
                if worker.deadline <= now and not worker.conn.poll():
                    timed_out.add(worker.restart(self.timeout))
        return timed_out

    def _start_workers(self, count: int) -> list[_Worker]:
        if not self._pool:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            if context.get_start_method() == "fork":
                _load_math_verify()  # forked workers, replacements included, inherit it loaded and warm
            self._context = context
        for worker in self._pool:
            if not worker.process.is_alive():  # killed from outside (say by the OOM killer) since the last call
                worker.restart(self.timeout)
        while len(self._pool) < count:
            self._pool.append(_Worker(self._context))
        return self._pool[:count]


class _Worker:
    """A grading process and the parent's view of it: the items sent and not yet answered, in order."""

    def __init__(self, context):
        self.context = context
        self.pending: deque[tuple[int, tuple[str, str]]] = deque()
        self._start()

    def _start(self) -> None:
        self.conn, child_end = self.context.Pipe()
        self.process = self.context.Process(target=_serve, args=(child_end, self.conn), daemon=True)
        self.process.start()
        child_end.close()
        self.ready = False  # the clock starts once the worker has loaded Math-Verify
        self.deadline = math.inf

    def send(self, items: list[tuple[int, tuple[str, str]]], timeout: float) -> None:
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
                yield self.pending.popleft()[0], verdict
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


def _serve(conn: Connection, parent_end: Connection) -> None:
    """Worker loop: receives lists of (prediction, gold), sends one verdict per item, in order."""
    # Our inherited copy of the parent's end would keep the pipe open after the parent died.
    parent_end.close()
    # Ctrl-C reaches the whole process group; the parent handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _load_math_verify()
    conn.send(None)
    try:
        while True:
            for pred, gold in conn.recv():
                conn.send(_math_equal(pred, gold))
    except (EOFError, OSError):
        pass


def _math_equal(pred: str, gold: str) -> bool:
    try:
        _, verify = _load_math_verify()
        return bool(verify(_parse_math(gold), _parse_math(pred), timeout_seconds=None))
    except Exception:
        return False


@lru_cache(maxsize=4096)  # golds recur once per sampled prediction
def _parse_math(answer: str) -> list:
    parse, _ = _load_math_verify()
    return parse(f"${_strip_dollars(answer)}$", parsing_timeout=None)


@lru_cache(maxsize=None)
def _load_math_verify():
    """Math-Verify's parse and verify, imported on first use (slow), silenced and warmed up."""
    # It warns once that its signal-based timeouts are off: ours are the worker processes.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import parse, verify

    verify(parse("$1$", parsing_timeout=None), parse("$1$", parsing_timeout=None), timeout_seconds=None)
    return parse, verify


# Several numbers apart, or several lines: a grid or a list. Math-Verify would pick one
# number out of it and call "0" equal to a grid of zeros, so such answers must match as text.
_SEQUENCE = re.compile(r"\n\s*\S|\d\s+[-+]?\d")


def _is_sequence(answer: str) -> bool:
    return _SEQUENCE.search(answer.strip()) is not None


def _normalise(answer: str) -> str:
    """Casefolded, without surrounding ``$``, ``\\text{}`` wrappers, extra whitespace or a trailing period."""
    answer = _TEXT_WRAPPER.sub(r"\1", _strip_dollars(answer.strip()))
    return " ".join(answer.split()).removesuffix(".").rstrip().casefold()


def _strip_dollars(answer: str) -> str:
    return answer.strip("$").strip() if answer.startswith("$") and answer.endswith("$") else answer
