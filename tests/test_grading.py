import multiprocessing

import pytest

from thinkpack_cli.grading import GRADERS, Grader, extract_answer

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
    ("answer_container_tuple_stays_whole", "<answer>-0.0000, 0.0000</answer>", "-0.0000, 0.0000"),
    ("marco_output", "Reasoning done.\n<Output>\nThe answer is 15.\n</Output>", "15"),
    ("answer_is", "The answer is 42.", "42"),
    ("answer_is_decimal", "So the answer is 3.5.", "3.5"),
    ("final_answer_minerva", "Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("answer_colon_bold", r"**Answer:** $\dfrac{3}{4}$", r"\dfrac{3}{4}"),
    ("answer_next_line", "Answer:\n\n-7", "-7"),
    ("final_number", "We add 3 and 5 to get 8 apples", "8"),
    ("final_number_thousands", "Total: 1,234 dollars.", "1234"),
    ("final_number_negative_decimal", "The value falls to -0.25 at night", "-0.25"),
    ("final_number_fraction", "Half of it, 3/4 remains", "3/4"),
    ("final_number_not_minus", "x = 10-5", "5"),
    ("short-bare-answer", "Paris", "Paris"),
    ("short-letter", " B ", "B"),
    ("long-free-text", "I am not sure which of the options the question means, so I will not answer.", None),
    ("multi-line-free-text", "Not sure.\nSorry.", None),
    ("empty", "", None),
    ("blank", " \n ", None),
    ("missing", None, None),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in EXTRACT_CASES], ids=[c[0] for c in EXTRACT_CASES])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


MATH_CASES = [
    ("thousands", "2,280", "2280", True),
    ("decimal_vs_frac", "0.5", r"\frac{1}{2}", True),
    ("frac_shorthand_vs_slash", r"\frac12", "1/2", True),
    ("equation_vs_value", "3", "x=3", True),
    ("dollars_int_gold", "$5$", 5, True),
    ("text_wrapper", r"\text{B}", "B", True),
    ("normalised_string", " Yes. ", "yes", True),
    ("surd", r"\sqrt{8}", r"2\sqrt{2}", True),
    ("polynomial", "(x+1)^2", "x^2+2x+1", True),
    ("dfrac_vs_decimal", r"\dfrac{3}{4}", "0.75", True),
    ("units", r"10\text{ cm}", "10", True),
    ("set_order", r"\{2, 1\}", r"\{1, 2\}", True),
    ("wrong_number", "5", "6", False),
    ("wrong_rounding", "0.33", r"\frac{1}{3}", False),
    ("wrong_expression", "x+1", "x-1", False),
    ("malformed_latex", r"\frac{", "1", False),
    ("empty_prediction", "", "5", False),
    ("no_prediction", None, "5", False),
    ("no_gold", "5", None, False),
    ("grid_is_not_its_last_number", "0", "0 0 0 6 6 0\n0 0 0 0 0 0", False),
    ("grid_equals_itself", "0 0 6\n6 0 0", "0 0 6\n6 0 0", True),
]

EXACT_CASES = [
    ("strip", " 42 ", "42", True),
    ("int_gold", "7", 7, True),
    ("no_equivalence", "42.0", "42", False),
    ("no_latex", r"\frac12", "1/2", False),
    ("case_sensitive", "Paris", "paris", False),
    ("no_prediction", None, "x", False),
]


@pytest.fixture(scope="module")
def math_grader():
    with Grader("math", workers=2) as grader:
        yield grader


@pytest.mark.parametrize("pred, gold, expected", [c[1:] for c in MATH_CASES], ids=[c[0] for c in MATH_CASES])
def test_math_grader(math_grader, pred, gold, expected):
    assert math_grader.grade([(pred, gold)]) == [expected]


def test_math_grader_batch_maps_duplicates_back(math_grader):
    pairs = [(c[1], c[2]) for c in MATH_CASES] * 3
    assert math_grader.grade(pairs) == [c[3] for c in MATH_CASES] * 3
    assert math_grader.timeouts == 0


@pytest.mark.parametrize("pred, gold, expected", [c[1:] for c in EXACT_CASES], ids=[c[0] for c in EXACT_CASES])
def test_exact_grader(pred, gold, expected):
    assert Grader("exact").grade([(pred, gold)]) == [expected]


def test_unknown_method():
    assert "exact" in GRADERS
    with pytest.raises(ValueError):
        Grader("fuzzy")


# Math-Verify gets stuck comparing this tower with a number (measured: still running after 20 s).
PATHOLOGICAL = (r"9^{9^{9^{9}}}", "5")


def test_timeout_kills_stuck_item_and_grades_the_rest():
    good = [("2,280", "2280"), (r"\frac12", "0.5"), ("4", "5"), ("x=3", "3")]
    # One worker, 12 distinct items: chunks of 3, so the stuck item (index 4) has chunk mates after it.
    pairs = [(f"{n}/2", f"{n / 2}") for n in range(4)] + [PATHOLOGICAL] + good + [(f"{n}", f"{n}.0") for n in range(3)]
    pairs.append(PATHOLOGICAL)  # a duplicate: graded once, but counted per record
    with Grader("math", timeout=0.5, workers=1) as grader:
        verdicts = grader.grade(pairs)
        assert verdicts == [True] * 4 + [False, True, True, False, True] + [True] * 3 + [False]
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
