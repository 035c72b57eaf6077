#!/usr/bin/env python3
"""Grading speed on real answers: ``python bench/grade_bench.py [--limit N] [--workers N]``.

On the shared corpus's real RL outputs (``../shared/corpus/reasoning_gym_eval_local_rl.jsonl``,
5,526 records; absent from a clone: then it says so and exits 0), each record parsed by tp's own
parser, times:

  plain loop   Math-Verify as its README shows, one process: for every record,
               ``verify(parse(gold), parse(pred))`` on exactly the texts tp's rule hands it
               (``grading.expression_inputs``), with Math-Verify's own signal timeouts
  tp grader    ``Grader("math").verdicts`` over the same (answer, gold) pairs: each distinct pair
               once, the text rule first, each distinct gold and prediction parsed once per
               worker, ``--workers`` processes (default: every core)

and checks the verdicts: wherever tp's rule reached Math-Verify they must be identical to the
plain loop's; elsewhere a documented addition decided (text rule, letters, grids), and the
differences are counted by rule. Prints the table, the ratio, the goal (>= 10x) and writes
bench/data/grade_results.json. The plain loop takes about half a minute: run it once or twice.
``--hardest N`` instead shows where the grader's time goes (about a minute, one process).
``--python-golds`` instead grades the records of both reasoning-gym files whose gold is a Python
(sympy) expression and counts how tp's verdict compares with each record's own ``score``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "reasoning_gym_eval_local_rl.jsonl"
GOAL = 10.0


def load(limit: int | None) -> list[tuple[str | None, str]]:
    """(answer to grade, gold) per record, as tp stats builds them (truncated samples have none)."""
    import orjson

    from thinkpack_cli.formats import TRUNCATED
    from thinkpack_cli.parse import ParseOptions, Parser

    parser = Parser(ParseOptions(field="full_model_response"))
    pairs = []
    with open(CORPUS, "rb") as f:
        for line in f:
            record = parser.parse_record(orjson.loads(line))
            pairs.append((None if record["status"] == TRUNCATED else record["answer"], record["gold"]))
            if limit and len(pairs) >= limit:
                break
    return pairs


def plain_loop(pairs) -> tuple[list[bool | None], float]:
    """Math-Verify alone, record by record; None where tp's rule hands it nothing."""
    from math_verify import parse, verify

    from thinkpack_cli import answers
    from thinkpack_cli.grading import GOLD, expression_inputs, math_verify_configs

    configs = math_verify_configs()
    out: list[bool | None] = []
    started = time.perf_counter()
    for answer, gold in pairs:
        if not answer or answer.isspace():
            out.append(None)
            continue
        region, contained = answers.answer_region(answer)
        gold_text, pred_text, reading = expression_inputs(region, contained, answers.gold_answers(gold)[0])
        if pred_text is None:
            out.append(None)
            continue
        out.append(bool(verify(parse(gold_text, configs[GOLD]), parse(pred_text, configs[reading]))))
    return out, time.perf_counter() - started


def tp_grader(pairs, workers: int | None):
    from thinkpack_cli.grading import Grader, _math_verify

    _math_verify()  # imported before the clock starts, as the plain loop's is
    started = time.perf_counter()
    with Grader("math", timeout=5.0, workers=workers) as grader:
        verdicts = grader.verdicts(pairs)
    return verdicts, time.perf_counter() - started


def hardest(pairs, shown: int) -> None:
    """Where the grader's time goes: each distinct pair the text rule leaves to Math-Verify, timed
    alone in this process (no timeout), and how much of the total the slowest take."""
    from thinkpack_cli import answers
    from thinkpack_cli.grading import _key, _math_rule, _math_verify, expression_inputs, quick_verdict

    _math_verify()
    undecided = [(a, g) for a, g in dict.fromkeys((a, _key(g)) for a, g in pairs) if quick_verdict(a, g) is None]
    inputs = set()
    for answer, gold in undecided:
        region, contained = answers.answer_region(answer)
        inputs.add(tuple(expression_inputs(region, contained, g) for g in answers.gold_answers(gold)))
    timed = []
    for answer, gold in undecided:
        started = time.perf_counter()
        verdict = _math_rule(answer, gold)
        timed.append((time.perf_counter() - started, answer, gold, verdict))
    timed.sort(key=lambda t: -t[0])
    total = sum(t[0] for t in timed)
    print(
        f"{len(pairs):,} records, {len(undecided):,} distinct pairs left to Math-Verify "
        f"({len(inputs):,} distinct Math-Verify inputs), {total:.1f} s in one process"
    )
    for n in (10, 50, 200):
        print(f"  slowest {n}: {sum(t[0] for t in timed[:n]) / total:.0%} of it")
    for seconds, answer, gold, verdict in timed[:shown]:
        print(f"  {seconds:6.2f} s  correct={verdict.correct!s:<5}  gold {str(gold)[:40]!r}  answer …{answer[-50:]!r}")


def python_golds(workers: int | None) -> None:
    """tp's verdicts against reasoning-gym's own scores, on the records whose gold is written as Python."""
    import orjson

    from thinkpack_cli.formats import TRUNCATED
    from thinkpack_cli.grading import Grader
    from thinkpack_cli.parse import ParseOptions, Parser
    from thinkpack_cli.python_math import is_python_math

    parser = Parser(ParseOptions(field="full_model_response"))
    pairs, scores = [], []
    for name in ("reasoning_gym_eval_local_rl.jsonl", "reasoning_gym_eval_zeroshot_api.jsonl"):
        with open(CORPUS.parent / name, "rb") as f:
            for line in f:
                record = orjson.loads(line)
                if isinstance(record.get("gold"), str) and is_python_math(record["gold"].strip()):
                    parsed = parser.parse_record(record)
                    pairs.append((None if parsed["status"] == TRUNCATED else parsed["answer"], parsed["gold"]))
                    scores.append(record.get("score") == 1.0)
    with Grader("math", timeout=5.0, workers=workers) as grader:
        correct = [v.correct for v in grader.verdicts(pairs)]
    pairs_by = Counter(zip(correct, scores))
    print(
        f"{len(pairs)} records with a Python gold: tp right {sum(correct)}, reasoning-gym's score right {sum(scores)}"
    )
    print(f"  agree {pairs_by[True, True] + pairs_by[False, False]}")
    print(f"  tp right, score wrong {pairs_by[True, False]}; tp wrong, score right {pairs_by[False, True]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N records")
    ap.add_argument("--workers", type=int, default=None, help="grading processes (default: every core)")
    ap.add_argument(
        "--hardest",
        type=int,
        default=None,
        metavar="N",
        help="instead: time each pair left to Math-Verify alone and show the N slowest",
    )
    ap.add_argument("--python-golds", action="store_true", help="instead: tp against reasoning-gym's own scores")
    args = ap.parse_args()
    if not CORPUS.is_file():
        print(f"grade_bench: {CORPUS} not found (../shared is on developer machines only): skipped")
        return 0
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    if args.python_golds:
        python_golds(args.workers)
        return 0
    pairs = load(args.limit)
    if args.hardest is not None:
        hardest(pairs, args.hardest)
        return 0
    verdicts, tp_seconds = tp_grader(pairs, args.workers)
    plain, plain_seconds = plain_loop(pairs)

    agree = Counter()
    differ = Counter()
    for verdict, reference in zip(verdicts, plain):
        if verdict.rule == "math_verify" and verdict.status != "timeout":
            (agree if verdict.correct == bool(reference) else differ)["math_verify"] += 1
        elif reference is None or verdict.correct == reference:
            agree[verdict.rule or verdict.status] += 1
        else:
            differ[verdict.rule or verdict.status] += 1
    ratio = plain_seconds / tp_seconds
    results = {
        "records": len(pairs),
        "distinct_pairs": len(set((a, str(g)) for a, g in pairs)),
        "cores": os.cpu_count(),
        "workers": args.workers or os.cpu_count(),
        "plain_loop_s": round(plain_seconds, 2),
        "tp_grader_s": round(tp_seconds, 2),
        "ratio": round(ratio, 2),
        "goal": GOAL,
        "met": ratio >= GOAL,
        "accuracy_tp": sum(v.correct for v in verdicts) / len(verdicts),
        "accuracy_plain_loop": sum(bool(p) for p in plain) / len(plain),
        "agree_by_rule": dict(agree),
        "differ_by_rule": dict(differ),
        "identical_where_math_verify_decided": differ["math_verify"] == 0,
    }
    print(f"{'':<14}{'seconds':>9}{'records/s':>11}")
    print(f"{'plain loop':<14}{plain_seconds:>9.2f}{len(pairs) / plain_seconds:>11.0f}")
    print(f"{'tp grader':<14}{tp_seconds:>9.2f}{len(pairs) / tp_seconds:>11.0f}")
    print(f"ratio {ratio:.1f}x (goal >= {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'}) on {os.cpu_count()} cores")
    print(f"verdicts where Math-Verify decided: {agree['math_verify']} identical, {differ['math_verify']} different")
    print(
        f"decided by an addition of ours, differing from the plain loop: {dict(differ - Counter({'math_verify': 0})) or 'none'}"
    )
    out = REPO / "bench" / "data"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grade_results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["identical_where_math_verify_decided"] else 1


if __name__ == "__main__":
    sys.exit(main())
