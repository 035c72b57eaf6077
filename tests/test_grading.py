"""The grading rule: Math-Verify's extraction and comparison, plus our documented additions."""

import multiprocessing
import time

import pytest

from thinkpack_cli.answers import answer_region, extract_answer, gold_answers, last_boxed
from thinkpack_cli.grading import GRADERS, NO_ANSWER, NO_GOLD, TIMEOUT, UNPARSABLE, Grader, grade_exact, grade_math

EXTRACT_CASES = [
    ("boxed", r"So the area is \boxed{12}.", "12"),
    ("boxed_nested", r"Thus \boxed{\frac{1}{\sqrt{2}}} it is.", r"\frac{1}{\sqrt{2}}"),
    ("boxed_last_of_many", r"First \boxed{1}, corrected: \boxed{2}", "2"),
    ("boxed_beats_phrase", r"The answer is 3, i.e. $\boxed{3}$", "3"),
    ("boxed_unbraced", r"$\boxed 5$", "5"),
    ("fbox", r"\fbox{A}", "A"),
    ("boxed_unclosed_skipped", r"\boxed{7} then \boxed{8", "7"),
    ("answer_container", "<answer>42</answer>", "42"),
    ("answer_container_last", "<answer>1</answer> wait <answer>2</answer>", "2"),
    ("answer_container_narrows", "<answer>The answer is 7</answer> and later 99", "7"),
    ("answer_container_unclosed", r"<answer> so \boxed{x+1}", "x+1"),
    ("answer_container_text", "<answer> Paris </answer>", "Paris"),
    ("answer_container_grid_stays_whole", "<answer>\n0 0 6\n6 0 0\n</answer>", "0 0 6\n6 0 0"),
    ("marco_output", "Reasoning done.\n<Output>\nThe answer is 15.\n</Output>", "15"),
    ("answer_is", "The answer is 42.", "42"),
    ("answer_is_decimal", "So the answer is 3.5.", "3.5"),
    ("final_answer_minerva", "Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("answer_colon_bold", r"**Answer:** $\dfrac{3}{4}$", r"\dfrac{3}{4}"),
    ("answer_next_line", "Answer:\n\n-7", "-7"),
    # No last-bare-number fallback: prose is not an answer.
    ("no_final_number", "We add 3 and 5 and so on, and then we keep going for a while to get 8 apples", None),
    ("short-bare-answer", "Paris", "Paris"),
    ("short-letter", " B ", "B"),
    ("multi-line-free-text", "Not sure.\nSorry.", None),
    ("empty", "", None),
    ("missing", None, None),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in EXTRACT_CASES], ids=[c[0] for c in EXTRACT_CASES])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


# The examples of the old last-bare-number fallback, and our documented additions.
MATH_CASES = [
    ("dfrac_is_not_its_denominator", r"$\dfrac{1}{3}$", "3", False),
    ("dfrac", r"$\dfrac{1}{3}$", "1/3", True),
    ("interval_is_not_its_end", r"$[0,1)$", "1", False),
    ("interval", r"$[0,1)$", "[0,1)", True),
    ("tuple_is_not_its_last", "(3,2)", "2", False),
    ("inequality_is_not_its_bound", r"$x \geq 5$", "5", False),
    ("time_is_not_its_minutes", "12:00", "00", False),
    ("matrix_is_not_its_last_entry", r"$\begin{pmatrix}1&2\\3&4\end{pmatrix}$", "4", False),
    ("golden_ratio_is_not_2", r"$\frac{1+\sqrt{5}}{2}$", "2", False),
    ("final_answer_clause", "Final Answer: The largest $n$ is 34.", "34", True),
    ("digit_inside_a_word", "AZYUK2A", "2", False),
    ("thousands", "2,280", "2280", True),
    ("decimal_vs_frac", "$0.5$", r"\frac{1}{2}", True),
    ("boxed_frac_vs_decimal", r"So \boxed{\frac{1}{2}}", "0.5", True),
    ("equation_vs_value", "x=3", "3", True),
    ("int_gold", "$5$", 5, True),
    ("text_rule", "Paris", "paris", True),
    ("text_wrapper", r"\text{B}", "B", True),
    ("surd", r"$\sqrt{8}$", r"2\sqrt{2}", True),
    ("polynomial", "$(x+1)^2$", "x^2+2x+1", True),
    ("units", r"$10\text{ cm}$", "10", True),
    ("set_order", r"$\{2, 1\}$", r"\{1, 2\}", True),
    ("wrong_number", "5", "6", False),
    ("wrong_rounding", "0.33", r"\frac{1}{3}", False),
    ("container_latex", r"<answer>\(\frac{127}{189}\)</answer>", "127/189", True),
    ("container_plain", "<answer>144</answer>", "144", True),
    ("letter_in_parentheses", "The answer is (B).", "B", True),
    ("letter_wrong", "I pick C", "B", False),
    ("gsm8k_solution_gold", "So she sold 72 clips.", "Natalia sold 48/2 = 24 clips in May.\n#### 72", True),
    ("list_gold_any_of", "5", ["4", "5"], True),
    ("list_gold_none_of", "5", ["4", "6"], False),
    ("grid_is_not_its_last_number", "0", "0 0 0 6 6 0\n0 0 0 0 0 0", False),
    ("grid_equals_itself", "<answer>0 0 6\n6 0 0</answer>", "0 0 6\n6 0 0", True),
]


# Golds written as Python (sympy) expressions, as reasoning-gym writes them (these golds are from
# ../shared/corpus/reasoning_gym_eval_*.jsonl): read as the expressions they are, not as LaTeX, where
# `**` is no power. Nine cases were graded the other way before (`2**10` read as 2, a wrong
# antiderivative "+ C" right); wrong_power and python_answer_wrong guard the rule from making wrong right.
PYTHON_GOLD_CASES = [
    ("latex_antiderivative", r"\(6X^9 - \frac{2X^6}{5} - 5X^5 - X + C\)", "6*X**9 - 2*X**6/5 - 5*X**5 - X + C", True),
    (
        "wrong_coefficient",
        "-9*X**9/7 + 3*X**8 + 9*X**7 + 7*X**4 + C",
        "-6*X**9/7 + 3*X**8 + 9*X**7/2 + 7*X**4 + C",
        False,
    ),
    ("wrong_power", r"$\frac{2}{3}(4x + 8)^{5/2} + C$", "2*(4*x + 8)**(3/2)/3 + C", False),
    ("power_read_as_power", "$2^{10}$", "2**10", True),
    ("power_is_not_its_base", "$2$", "2**10", False),
    ("exp_and_trig", r"$\frac{e^x(\sin x - \cos x)}{2} + C$", "exp(x)*sin(x)/2 - exp(x)*cos(x)/2 + C", True),
    ("function_then_factor", r"The answer is $3\sin^2 x$", "sin(x)**2*3", True),  # not sin(3x)**2
    ("python_log_is_natural", r"The answer is $2\ln(x)$", "log(x)*2", True),  # LaTeX \log is base 10 to Math-Verify
    ("boxed_python_answer", r"\boxed{1 + x**2}", "x**2 + 1", True),
    ("implicit_product", r"\boxed{-5X**4 + (1/7)X**2 + C}", "-5*X**4 + X**2/7 + C", True),
    ("python_answer_wrong", r"\boxed{x**3}", "x**2 + 1", False),
    # A short bare answer in LaTeX, without delimiters, is read as math as a gold is (Math-Verify finds none in it).
    ("bare_latex_answer", "738z^5 + 1798z^3 - 700z", "738*z**5 + 1798*z**3 - 700*z", True),
    ("bare_latex_fraction", r"-\frac{\cos^5(3x + 4)}{5} + C", "-cos(3*x + 4)**5/5 + C", True),
    ("bare_latex_power", "2^{10}", "1024", True),
    ("bare_latex_wrong", "x^3 + 1", "x^2 + 1", False),
    (
        "python_polynomial_is_no_list",
        "<answer>-7*x**8 -8*x**6 -6*x**5 +6*x + C</answer>",
        "-7*x**8 - 8*x**6 + 6*x + C - 6*x**5",
        True,
    ),
    ("signed_list_stays_a_list", "<answer>-1 -2 3</answer>", "-1", False),
]


@pytest.mark.parametrize(
    "pred, gold, expected", [c[1:] for c in PYTHON_GOLD_CASES], ids=[c[0] for c in PYTHON_GOLD_CASES]
)
def test_python_syntax_golds_and_answers_are_read_as_expressions(math_grader, pred, gold, expected):
    assert math_grader.grade([(pred, gold)]) == [expected]


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('touch pwned')", "x.__class__*2", "getattr(x, 'y')*2", "open(1)*2", "[x]*2", "x_1**2"],
)
def test_python_syntax_reader_reads_nothing_but_arithmetic(text, tmp_path, monkeypatch):
    """Proves sympy's evaluating parser never sees a name, attribute, string or bracket outside arithmetic."""
    from thinkpack_cli.python_math import to_latex

    monkeypatch.chdir(tmp_path)
    assert to_latex(text) is None and not (tmp_path / "pwned").exists()


def test_a_python_power_tower_is_not_evaluated():
    """Proves ``9**9**9**9`` (a gold or an answer) is read unevaluated, at once, not computed."""
    from thinkpack_cli.python_math import to_latex

    assert to_latex("9**9**9**9") == "9^{9^{9^{9}}}"


@pytest.fixture(scope="module")
def math_grader():
    with Grader("math", workers=2) as grader:
        yield grader


@pytest.mark.parametrize("pred, gold, expected", [c[1:] for c in MATH_CASES], ids=[c[0] for c in MATH_CASES])
def test_math_grader(math_grader, pred, gold, expected):
    assert math_grader.grade([(pred, gold)]) == [expected]
    assert grade_math(pred, gold).correct == expected  # the rule in-process agrees with the workers


def test_math_grader_batch_maps_duplicates_back(math_grader):
    pairs = [(c[1], c[2]) for c in MATH_CASES] * 3
    assert math_grader.grade(pairs) == [c[3] for c in MATH_CASES] * 3
    assert math_grader.timeouts == 0


@pytest.mark.parametrize(
    "answer, gold, status",
    [
        (None, "5", NO_ANSWER),
        ("  ", "5", NO_ANSWER),
        ("5", None, NO_GOLD),
        ("5", "", NO_GOLD),
        ("5", [], NO_GOLD),
        ("I do not know, it is hard to say, sorry about that, really I tried my best", "5", UNPARSABLE),
    ],
    ids=["none", "blank", "no-gold", "empty-gold", "empty-list-gold", "prose"],
)
def test_statuses(math_grader, answer, gold, status):
    (verdict,) = math_grader.verdicts([(answer, gold)])
    assert verdict.status == status and not verdict.correct


def test_verdict_names_the_extracted_prediction(math_grader):
    (verdict,) = math_grader.verdicts([(r"so we get $\dfrac{1}{3}$ in the end", "1/3")])
    assert verdict.correct and verdict.pred == r"\frac{1}{3}" and verdict.rule == "math_verify"


EXACT_CASES = [
    ("strip", " 42 ", "42", True),
    ("int_gold", "7", 7, True),
    ("no_equivalence", "42.0", "42", False),
    ("no_latex", r"\frac12", "1/2", False),
    ("case_sensitive", "Paris", "paris", False),
    ("boxed", r"so \boxed{7}", "7", True),
    ("list_gold", "b", ["a", "b"], True),
    ("no_prediction", None, "x", False),
]


@pytest.mark.parametrize("pred, gold, expected", [c[1:] for c in EXACT_CASES], ids=[c[0] for c in EXACT_CASES])
def test_exact_grader(pred, gold, expected):
    assert Grader("exact").grade([(pred, gold)]) == [expected]
    assert grade_exact(pred, gold).correct == expected


def test_unknown_method():
    assert "exact" in GRADERS
    with pytest.raises(ValueError):
        Grader("fuzzy")


def test_gold_answers():
    assert gold_answers("…clips in May.\n#### 1,234") == ["1,234"]
    assert gold_answers([1, "2", None, ""]) == ["1", "2"]
    assert gold_answers(None) == [] and gold_answers("  ") == []


# ---------------------------------------------------------------------------- linear time, bounded time

NESTED_BOXED = "\\boxed{" * 30_000  # 210 KB, never closed
SPACES = "1" + " " * 50_000 + "x"  # Math-Verify's number pattern backtracks over the run


def test_our_extraction_is_linear():
    for text in (NESTED_BOXED, SPACES, "answer: " * 30_000, "<answer" * 30_000, "\n" * 200_000 + "x"):
        started = time.monotonic()
        answer_region(text)
        extract_answer(text)
        last_boxed(text)
        assert time.monotonic() - started < 1.0, text[:20]


@pytest.mark.parametrize("text", [NESTED_BOXED, SPACES], ids=["nested-boxed", "spaces"])
def test_hostile_answers_finish_inside_the_timeout(text):
    started = time.monotonic()
    with Grader("math", timeout=1, workers=1) as grader:
        (verdict,) = grader.verdicts([(text, "1")])
        assert grader.grade([("1", "1")]) == [True]  # the replacement worker serves on
    assert not verdict.correct and verdict.status in (TIMEOUT, UNPARSABLE)
    assert time.monotonic() - started < 10


# Math-Verify gets stuck comparing this tower with a number (measured: still running after 20 s).
PATHOLOGICAL = (r"$9^{9^{9^{9}}}$", "5")


def test_timeout_kills_stuck_item_and_grades_the_rest():
    good = [("2,280", "2280"), (r"$\frac12$", "0.5"), ("4", "5"), ("x=3", "3")]
    # One worker, 40 distinct items: chunks of 3, so the stuck item has chunk mates after it.
    pairs = [(f"{n}/2", f"{n / 2}") for n in range(4)] + [PATHOLOGICAL] + good + [(f"{n}", f"{n}.0") for n in range(31)]
    pairs.append(PATHOLOGICAL)  # a duplicate: graded once, but counted per record
    with Grader("math", timeout=0.5, workers=1) as grader:
        verdicts = grader.verdicts(pairs)
        assert [v.correct for v in verdicts] == [True] * 4 + [False, True, True, False, True] + [True] * 31 + [False]
        assert verdicts[4].status == TIMEOUT
        assert grader.timeouts == 2
        # The replacement worker keeps serving later calls.
        assert grader.grade(good) == [True, True, False, True]
        assert grader.timeouts == 2


def test_workers_killed_between_calls_are_replaced():
    others = set(multiprocessing.active_children())
    with Grader("math", workers=2) as grader:
        assert grader.grade([(f"{n}/2", f"{n / 2}") for n in range(100)]) == [True] * 100
        for worker in set(multiprocessing.active_children()) - others:  # as the OOM killer might
            worker.kill()
            worker.join()
        assert grader.grade([(f"{n}/4", f"{n / 4}") for n in range(100)]) == [True] * 100
