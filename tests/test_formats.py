"""The split rule, format by format: one case table each (pytest ids name the case).

valid: opened (or prefixed) and closed with non-blank content · empty: closed but blank ·
truncated: opened (or prefixed) and never closed, answer "" · missing: no block, answer = text.
"""

from __future__ import annotations

import os
from functools import lru_cache

import pytest

from thinkpack_cli.formats import FORMATS, AutoFormat, get_format, prompt_opens_reasoning

V, E, T, M = "valid", "empty", "truncated", "missing"
N = None  # prefixed unknown: inferred


def case(id, text, prefixed, status, reasoning, answer, tag=...):
    return pytest.param(text, prefixed, status, reasoning, answer, tag, id=id)


def check(fmt, text, prefixed, status, reasoning, answer, tag=...):
    split = fmt.split(text, prefixed)
    assert (split.status, split.reasoning, split.answer) == (status, reasoning, answer)
    if tag is not ...:
        assert split.tag == tag
    # Invariants of every split.
    assert (split.reasoning is None) == (status == M) == (split.format is None)
    if status == T:
        assert split.answer == ""
    if status == M:
        assert split.answer == text.strip()


ARGS = "text, prefixed, status, reasoning, answer, tag"
R1 = "Okay, 2 + 2 is 4."

THINK = [
    case("valid", f"<think>{R1}</think>The answer is 4.", N, V, R1, "The answer is 4.", "<think>"),
    case("valid-newlines", f"<think>\n{R1}\n</think>\n\n4\n", N, V, R1, "4"),
    case("empty-qwen3-nothink", "<think>\n\n</think>\n\n4", N, E, "", "4"),
    case("empty-spaces", "<think> \t </think>4", N, E, "", "4"),
    case("truncated", f"<think>{R1} Now", N, T, f"{R1} Now", ""),
    case("truncated-bare-open", "<think>", N, T, "", ""),
    case("missing", "The answer is 4.", N, M, None, "The answer is 4."),
    case("missing-blank", "  \n", N, M, None, ""),
    case("missing-whitespace-trimmed", "  4 \n", N, M, None, "4"),
    case("whitespace-around-block", "  <think>  r  </think>  a  ", N, V, "r", "a"),
    # Close without open: prefixed unknown -> the prompt opened it; --no-prefixed -> content.
    case("close-only-inferred", f"{R1}\n</think>\n\n4", N, V, R1, "4", "</think>"),
    case("close-only-inferred-blank", "\n</think>\n\n4", N, E, "", "4"),
    case("close-only-no-prefixed", f"{R1}</think>4", False, M, None, f"{R1}</think>4"),
    case("close-only-prefixed", f"{R1}</think>4", True, V, R1, "4"),
    case("prefixed-no-close", R1, True, T, R1, ""),
    case("prefixed-blank", "", True, T, "", ""),
    case("prefixed-repeated-open", f"<think>{R1}</think>4", True, V, R1, "4", "<think>"),
    case("prefixed-open-after-text-is-content", "a <think>b</think>4", True, V, "a <think>b", "4", "</think>"),
    case("prefixed-empty", "</think>4", True, E, "", "4"),
    case("no-prefixed-block", f"<think>{R1}</think>4", False, V, R1, "4"),
    case("no-prefixed-truncated", "<think>r", False, T, "r", ""),
    case("no-prefixed-plain", "4", False, M, None, "4"),
    # Several blocks (interleaved thinking): all are the reasoning, the answer follows the last.
    case("several-blocks", "<think>a</think>b<think>c</think>d", N, V, "a\n\nc", "d"),
    case("several-second-unclosed", "<think>a</think>b<think>c", N, T, "a\n\nc", ""),
    case("several-empty-first", "<think></think>b<think>c</think>d", N, V, "c", "d"),
    case("several-all-empty", "<think> </think>b<think>\n</think>d", N, E, "", "d"),
    # Nested same-name tags balance; a repeated open or close is one delimiter.
    case("nested", "<think>a <think>b</think> c</think>d", N, V, "a <think>b</think> c", "d"),
    case("nested-unbalanced", "<think>a <think>b</think> c", N, T, "a <think>b</think> c", ""),
    case("nested-other-name-is-content", "<think>a <thinking> c</think>d", N, V, "a <thinking> c", "d"),
    case("repeated-open", "<think>\n<think>\nr</think>a", N, V, "r", "a", "<think>"),
    case("repeated-close-qwen3-32b", "<think>\nr\n</think>\n\n</think>\n\na", N, V, "r", "a"),
    case("repeated-close-prefixed", "r</think></think>a", N, V, "r", "a", "</think>"),
    case("close-in-answer-after-text-is-text", "<think>r</think>a</think>b", N, V, "r", "a</think>b"),
    case("open-with-attributes", '<think type="reasoning">r</think>a', N, V, "r", "a", '<think type="reasoning">'),
    case("open-with-attributes-truncated", "<think mode='deep'>r", N, T, "r", ""),
    # A tool-call start ends an open block: not truncated, the call is answer text.
    case(
        "tool-call-qwen3",
        '<think>r\n<tool_call>\n{"name": "f"}\n</tool_call>',
        N,
        V,
        "r",
        '<tool_call>\n{"name": "f"}\n</tool_call>',
    ),
    case(
        "tool-call-prefixed",
        'r <tool_call>{"name": "f"}</tool_call>',
        True,
        V,
        "r",
        '<tool_call>{"name": "f"}</tool_call>',
    ),
    case(
        "tool-call-kimi",
        "<think>r<|tool_calls_section_begin|><|tool_call_begin|>f",
        N,
        V,
        "r",
        "<|tool_calls_section_begin|><|tool_call_begin|>f",
    ),
    case("tool-call-tool_calls", "<think>r<tool_calls>[f]</tool_calls>", N, V, "r", "<tool_calls>[f]</tool_calls>"),
    case("tool-call-deepseek", "<think>r<｜tool▁calls▁begin｜>f", N, V, "r", "<｜tool▁calls▁begin｜>f"),
    case("tool-call-seed", "<seed:think>r<seed:tool_call>f", N, V, "r", "<seed:tool_call>f"),
    case("tool-call-nemotron", "<think>r<TOOLCALL>[f]</TOOLCALL>", N, V, "r", "<TOOLCALL>[f]</TOOLCALL>"),
    case(
        "tool-call-after-close-is-answer",
        "<think>r</think>ok <tool_call>f</tool_call>",
        N,
        V,
        "r",
        "ok <tool_call>f</tool_call>",
    ),
    case("tool-call-without-block", "<tool_call>f</tool_call>", N, M, None, "<tool_call>f</tool_call>"),
    case("tool-call-in-code-is-content", "<think>use `<tool_call>` then</think>a", N, V, "use `<tool_call>` then", "a"),
    case(
        "interleaved-tool-turns", "<think>a</think><tool_call>f</tool_call><think>b</think>done", N, V, "a\n\nb", "done"
    ),
    case("text-before-open-dropped", "Sure. <think>r</think>a", N, V, "r", "a"),
    case("close-before-open-inferred", "x</think>y<think>z</think>w", N, V, "x\n\nz", "w"),
    case("close-before-open-no-prefixed", "x</think>y<think>z</think>w", False, V, "z", "w"),
    # Tags in closed code are content.
    case("fenced", "Use:\n```\n<think>x</think>\n```\nDone", N, M, None, "Use:\n```\n<think>x</think>\n```\nDone"),
    case("fenced-tilde", "~~~\n<think>\n~~~\nDone", N, M, None, "~~~\n<think>\n~~~\nDone"),
    case("fenced-longer-close", "````md\n</think>\n`````\nDone", N, M, None, "````md\n</think>\n`````\nDone"),
    case(
        "fenced-crlf",
        "Use:\r\n```\r\n<think>x</think>\r\n```\r\nDone",
        N,
        M,
        None,
        "Use:\r\n```\r\n<think>x</think>\r\n```\r\nDone",
    ),
    case(
        "fenced-close-inside-reasoning",
        "<think>\n```html\n</think>\n```\nr</think>a",
        N,
        V,
        "```html\n</think>\n```\nr",
        "a",
    ),
    case("fenced-in-answer", "<think>r</think>\n```\n<think>\n```", N, V, "r", "```\n<think>\n```"),
    case("unclosed-fence-hides-nothing", "<think>\n```py\nx = 1\n</think>a", N, V, "```py\nx = 1", "a"),
    case("inline-open", "Use `<think>` tags.", N, M, None, "Use `<think>` tags."),
    case("inline-close", "Close with `</think>`.", N, M, None, "Close with `</think>`."),
    case("inline-double-backtick", "``<think>`` here", N, M, None, "``<think>`` here"),
    case("inline-close-in-reasoning", "<think>emit `</think>` last</think>a", N, V, "emit `</think>` last", "a"),
    case("inline-close-prefixed", "say `</think>` then r</think>a", True, V, "say `</think>` then r", "a"),
    case("inline-close-prefixed-no-close", "say `</think>` then", True, T, "say `</think>` then", ""),
    # Tag names and case.
    case("uppercase", "<THINK>r</THINK>a", N, V, "r", "a", "<THINK>"),
    case("mixed-case", "<Think>r</think>a", N, V, "r", "a", "<Think>"),
    case("thinking", "<thinking>r</thinking>a", N, V, "r", "a", "<thinking>"),
    case(
        "thought-marco-o1-output-wrapper",
        "<Thought>\nr\n</Thought>\n<Output>\na\n</Output>",
        N,
        V,
        "r",
        "a",
        "<Thought>",
    ),
    case("answer-wrapper-r1-zero", "<think> r </think> <answer> 4 </answer>", N, V, "r", "4"),
    case("answer-wrapper-unclosed", "<think>r</think><answer>4", N, V, "r", "4"),
    case("answer-wrapper-only-at-start", "<think>r</think>so <answer>4</answer>", N, V, "r", "so <answer>4</answer>"),
    case("reasoning", "<reasoning>r</reasoning>a", N, V, "r", "a", "<reasoning>"),
    case("seed-think", "<seed:think>r</seed:think>a", N, V, "r", "a", "<seed:think>"),
    case("seed-think-truncated", "<seed:think>r", N, T, "r", ""),
    case("close-must-match-opener", "<thinking>r</think>a", N, T, "r</think>a", ""),
    case("not-a-tag", "<think >r</ think>a", N, M, None, "<think >r</ think>a"),
]


@pytest.mark.parametrize(ARGS, THINK)
def test_think(text, prefixed, status, reasoning, answer, tag):
    check(FORMATS["think"], text, prefixed, status, reasoning, answer, tag)


BRACKET = [
    case("valid-magistral", "[THINK]r[/THINK]\n\na", N, V, "r", "a", "[THINK]"),
    case("empty", "[THINK]\n[/THINK]a", N, E, "", "a"),
    case("truncated", "[THINK]r", N, T, "r", ""),
    case("missing", "a", N, M, None, "a"),
    case("lowercase", "[think]r[/think]a", N, V, "r", "a"),
    case("close-only-inferred", "r[/THINK]a", N, V, "r", "a", "[/THINK]"),
    case("close-only-no-prefixed", "r[/THINK]a", False, M, None, "r[/THINK]a"),
    case("prefixed-no-close", "r", True, T, "r", ""),
    case("several-blocks", "[THINK]a[/THINK]b[THINK]c[/THINK]d", N, V, "a\n\nc", "d"),
    case("tool-call-mistral", "[THINK]r[TOOL_CALLS]f[ARGS]{}", N, V, "r", "[TOOL_CALLS]f[ARGS]{}"),
    case("fenced", "```\n[THINK]x[/THINK]\n```", N, M, None, "```\n[THINK]x[/THINK]\n```"),
    case("inline", "`[THINK]` opens", N, M, None, "`[THINK]` opens"),
    case("think-tags-are-not-brackets", "<think>r</think>a", N, M, None, "<think>r</think>a"),
]


@pytest.mark.parametrize(ARGS, BRACKET)
def test_bracket(text, prefixed, status, reasoning, answer, tag):
    check(FORMATS["bracket"], text, prefixed, status, reasoning, answer, tag)


AN, END, FIN, RET = (
    "<|channel|>analysis<|message|>",
    "<|end|>",
    "<|start|>assistant<|channel|>final<|message|>",
    "<|return|>",
)
HARMONY = [
    case("valid", f"{AN}r{END}{FIN}a{RET}", N, V, "r", "a", AN),
    case("valid-final-ends-at-end", f"{AN}r{END}{FIN}a{END}", N, V, "r", "a"),
    case("valid-header-between", f"<|channel|>analysis to=x<|message|>r{END}{FIN}a{RET}", N, V, "r", "a"),
    case("empty", f"{AN}{END}{FIN}a{RET}", N, E, "", "a"),
    case("truncated", f"{AN}r", N, T, "r", ""),
    case("truncated-in-final", f"{AN}r{END}{FIN}partial", N, V, "r", "partial"),
    case("missing", "a", N, M, None, "a"),
    case("close-only-inferred", f"r{END}{FIN}a{RET}", N, V, "r", "a", END),
    case("prefixed", f"r{END}{FIN}a{RET}", True, V, "r", "a"),
    case("prefixed-no-close", "r", True, T, "r", ""),
    case("stripped", "analysisWe need 2+2.assistantfinal4", N, V, "We need 2+2.", "4", "analysis"),
    case("stripped-spaces", "analysis We need 2+2. assistantfinal 4", N, V, "We need 2+2.", "4"),
    case("stripped-empty", "analysisassistantfinal4", N, E, "", "4"),
    case("stripped-needs-analysis-first", "The word assistantfinal alone", N, M, None, "The word assistantfinal alone"),
    case(
        "final-constrain",
        f'{AN}r{END}<|start|>assistant<|channel|>final <|constrain|>json<|message|>{{"x": 4}}{RET}',
        N,
        V,
        "r",
        '{"x": 4}',
    ),
    case(
        "analysis-header-constrain",
        f"<|channel|>analysis <|constrain|>text<|message|>r{END}{FIN}a{RET}",
        N,
        V,
        "r",
        "a",
    ),
    case("cut-inside-final-header", f"{AN}r{END}<|start|>assistant<|channel|>fin", N, V, "r", ""),
    case("cut-inside-first-header", "<|channel|>analy", N, T, "", ""),
    case("two-analysis-no-final", f"{AN}a{END}<|start|>assistant{AN}b{END}", N, V, "a\n\nb", ""),
    case("two-analysis-then-final", f"{AN}a{END}<|start|>assistant{AN}b{END}{FIN}c{RET}", N, V, "a\n\nb", "c"),
    case("cut-inside-second-analysis", f"{AN}a{END}<|start|>assistant{AN}b", N, T, "a\n\nb", ""),
    case(
        "tool-call-ends-reasoning",
        f"{AN}r{END}<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{{}}<|call|>",
        N,
        V,
        "r",
        "<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>",
    ),
    case("stripped-cut-inside-analysis", "analysisWe need 2+2, which", N, T, "We need 2+2, which", ""),
    case(
        "stripped-tool-call",
        'analysisNeed the weather.assistantcommentary to=functions.get_weather json{"city": "SF"}',
        N,
        V,
        "Need the weather.",
        'commentary to=functions.get_weather json{"city": "SF"}',
    ),
    case("stripped-two-analysis", "analysisA.assistantanalysisB.assistantfinal4", N, V, "A.\n\nB.", "4"),
    case(
        "stripped-word-analysis-is-text",
        "analysis of the problem shows 4",
        N,
        M,
        None,
        "analysis of the problem shows 4",
    ),
]

HARMONY_NO_ANALYSIS = [  # (id, text, answer): status missing, the answer is the final message's body
    ("final-only", "<|channel|>final<|message|>4<|return|>", "4"),
    ("final-only-after-start", "<|start|>assistant<|channel|>final<|message|>4<|end|>", "4"),
    ("final-only-constrain", '<|channel|>final <|constrain|>json<|message|>{"x": 4}<|return|>', '{"x": 4}'),
    ("stripped-final-only", "assistantfinal4", "4"),
    ("stripped-commentary-only", "assistantcommentary to=functions.f json{}", "commentary to=functions.f json{}"),
]


@pytest.mark.parametrize("text, answer", [pytest.param(*c[1:], id=c[0]) for c in HARMONY_NO_ANALYSIS])
def test_harmony_without_analysis(text, answer):
    for fmt in (FORMATS["harmony"], get_format("auto")):
        assert fmt.split(text)[:3] == (None, answer, M)


@pytest.mark.parametrize(ARGS, HARMONY)
def test_harmony(text, prefixed, status, reasoning, answer, tag):
    check(FORMATS["harmony"], text, prefixed, status, reasoning, answer, tag)


CUSTOM = [  # --open '<|begin_of_thought|>' --close '<|end_of_thought|>' (Sky-T1 / OpenThoughts style)
    case("valid", "<|begin_of_thought|>r<|end_of_thought|>a", N, V, "r", "a", "<|begin_of_thought|>"),
    case("empty", "<|begin_of_thought|> <|end_of_thought|>a", N, E, "", "a"),
    case("truncated", "<|begin_of_thought|>r", N, T, "r", ""),
    case("missing", "a", N, M, None, "a"),
    case("close-only-inferred", "r<|end_of_thought|>a", N, V, "r", "a"),
    case("close-only-no-prefixed", "r<|end_of_thought|>a", False, M, None, "r<|end_of_thought|>a"),
    case("prefixed-no-close", "r", True, T, "r", ""),
    case("matched-literally-and-by-case", "<|BEGIN_OF_THOUGHT|>r", N, M, None, "<|BEGIN_OF_THOUGHT|>r"),
    case("other-formats-ignored", "<think>r</think>a", N, M, None, "<think>r</think>a"),
    case("fenced", "```\n<|begin_of_thought|>\n```", N, M, None, "```\n<|begin_of_thought|>\n```"),
]


@pytest.mark.parametrize(ARGS, CUSTOM)
def test_custom(text, prefixed, status, reasoning, answer, tag):
    check(
        get_format(open_tag="<|begin_of_thought|>", close_tag="<|end_of_thought|>"),
        text,
        prefixed,
        status,
        reasoning,
        answer,
        tag,
    )


def test_custom_regex_characters_are_literal():
    fmt = get_format(open_tag="[[", close_tag="]].*")
    check(fmt, "[[r]].*a", N, V, "r", "a")
    check(fmt, "[[r]]a", N, T, "r]]a", "")


AUTO = [  # (id, text, prefixed, status, reasoning, answer, format)
    ("think", "<think>r</think>a", N, V, "r", "a", "think"),
    ("seed-think", "<seed:think>r</seed:think>a", N, V, "r", "a", "think"),
    ("thought", "<Thought>r</Thought>a", N, V, "r", "a", "think"),
    ("bracket", "[THINK]r[/THINK]a", N, V, "r", "a", "bracket"),
    ("harmony", f"{AN}r{END}{FIN}a{RET}", N, V, "r", "a", "harmony"),
    ("harmony-stripped", "analysisr.assistantfinala", N, V, "r.", "a", "harmony"),
    ("harmony-truncated", f"{AN}r", N, T, "r", "", "harmony"),
    ("missing", "a", N, M, None, "a", None),
    ("empty", "<think>\n\n</think>\n\na", N, E, "", "a", "think"),
    ("close-only-think", "r</think>a", N, V, "r", "a", "think"),
    ("close-only-bracket", "r[/THINK]a", N, V, "r", "a", "bracket"),
    ("close-only-no-prefixed", "r</think>a", False, M, None, "r</think>a", None),
    ("prefixed-close", "r[/THINK]a", True, V, "r", "a", "bracket"),
    ("prefixed-no-close", "r", True, T, "r", "", "think"),
    ("first-delimiter-wins", "[THINK]r[/THINK]a <think>x</think>", N, V, "r", "a <think>x</think>", "bracket"),
    ("code-skipped-then-real", "`<think>` aside [THINK]r[/THINK]a", N, V, "r", "a", "bracket"),
    ("code-only", "Use `<think>` and\n```\n[THINK]\n```", N, M, None, "Use `<think>` and\n```\n[THINK]\n```", None),
    ("uppercase", "<THINK>r</THINK>a", N, V, "r", "a", "think"),
]


@pytest.mark.parametrize(
    "text, prefixed, status, reasoning, answer, fmt", [pytest.param(*c[1:], id=c[0]) for c in AUTO]
)
def test_auto(text, prefixed, status, reasoning, answer, fmt):
    split = get_format("auto").split(text, prefixed)
    assert (split.status, split.reasoning, split.answer, split.format) == (status, reasoning, answer, fmt)


PROMPTS = [  # (id, generation prompt, format whose block it leaves open)
    ("r1-distill", "<｜begin▁of▁sentence｜><｜User｜>What is 2 + 2?<｜Assistant｜><think>\n", "think"),
    ("qwq", "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>\n", "think"),
    (
        "r1-zero-style",
        "A conversation… <think> reasoning </think> <answer> answer </answer>. User: 2+2? Assistant: <think>",
        "think",
    ),
    ("qwen3", "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n", None),
    ("qwen3-no-think", "<|im_start|>assistant\n<think>\n\n</think>\n\n", None),
    (
        "magistral-system",
        "[SYSTEM_PROMPT]Draft your thinking: [THINK]your thoughts[/THINK] then answer.[/SYSTEM_PROMPT]"
        "[INST]What is 2 + 2?[/INST]",
        None,
    ),
    ("bracket-open", "[INST]What is 2 + 2?[/INST][THINK]", "bracket"),
    ("gpt-oss", "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant", None),
    ("gpt-oss-analysis-prefilled", "<|start|>assistant<|channel|>analysis<|message|>", "harmony"),
    ("history-closed-then-open", "<think>a</think>4<|im_end|><|im_start|>assistant\n<think>\n", "think"),
    ("empty", "", None),
]


@pytest.mark.parametrize("prompt, expected", [pytest.param(*c[1:], id=c[0]) for c in PROMPTS])
def test_prompt_opens_reasoning(prompt, expected):
    found = prompt_opens_reasoning(prompt)
    assert (found.name if found else None) == expected
    assert AutoFormat().opens(prompt) is (expected is not None)


def test_get_format_names_and_errors():
    assert {n: get_format(n).name for n in ("auto", "think", "bracket", "harmony")} == {
        "auto": "auto",
        "think": "think",
        "bracket": "bracket",
        "harmony": "harmony",
    }
    with pytest.raises(
        ValueError, match="unknown format 'xml'; choose from auto, think, bracket, harmony, gemma4, kimi-vl, granite$"
    ):
        get_format("xml")
    with pytest.raises(ValueError, match="both an opening and a closing tag"):
        get_format(open_tag="<r>")


# ------------------------------------------------------------------------------ the registry


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("reasoning, answer", [("Okay, 2 + 2 = 4.", "The answer is 4."), ("r\n\nline two", "4")])
def test_registry_round_trip(name, reasoning, answer):
    """Every format's rendered form splits back, is found by auto, and its opening is a prefixed prompt."""
    fmt = FORMATS[name]
    text = fmt.render(reasoning, answer)
    assert fmt.split(text)[:3] == (reasoning, answer, V)
    assert get_format("auto").split(text)[:4] == (reasoning, answer, V, name)
    # The text after an opening prompt (what the model writes) is prefixed and splits the same.
    prompt = f"<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n{fmt.opening()}"
    opener = FORMATS.get(fmt.refines, fmt)  # granite's opening is think's
    assert prompt_opens_reasoning(prompt) is opener
    assert prompt_opens_reasoning(fmt.opening()) is opener  # a bare prompt that ends with the opening
    rest = text[len(fmt.opening()) :]
    assert fmt.split(rest, True)[:3] == (reasoning, answer, V)
    assert fmt.split(fmt.opening() + reasoning)[:3] == (reasoning, "", T)
    assert prompt_opens_reasoning(prompt + reasoning + fmt.closing()) is None


NEW_FAMILIES = [  # (id, text, status, reasoning, answer, format): the families the registry gained
    ("gemma4", "<|channel>thought\nr\n<channel|>a", V, "r", "a", "gemma4"),
    ("gemma4-empty", "<|channel>thought\n<channel|>a", E, "", "a", "gemma4"),
    ("gemma4-truncated", "<|channel>thought\nr", T, "r", "", "gemma4"),
    ("gemma4-tool-call", "<|channel>thought\nr<|tool_call>call:f{}", V, "r", "<|tool_call>call:f{}", "gemma4"),
    ("granite", "<think>r</think><response>a</response>", V, "r", "a", "granite"),
    ("granite-spaced", "<think>\nr\n</think>\n<response>\na\n</response>", V, "r", "a", "granite"),
    ("granite-unclosed-response", "<think>r</think><response>a", V, "r", "a", "granite"),
    ("kimi-vl", "◁think▷r◁/think▷a", V, "r", "a", "kimi-vl"),
    ("kimi-vl-truncated", "◁think▷r", T, "r", "", "kimi-vl"),
    ("kimi-vl-close-only", "r◁/think▷a", V, "r", "a", "kimi-vl"),
]


@pytest.mark.parametrize("text, status, reasoning, answer, fmt", [pytest.param(*c[1:], id=c[0]) for c in NEW_FAMILIES])
def test_new_families(text, status, reasoning, answer, fmt):
    assert get_format("auto").split(text)[:4] == (reasoning, answer, status, fmt)
    assert get_format(fmt).split(text)[:3] == (reasoning, answer, status)


# ------------------------------------------------------------------------------ prompts of real templates

QUOTING = [  # tags quoted in system and user text: never a block the prompt opened
    {"role": "system", "content": "Reason inside <thinking> tags, then answer inside <output> tags."},
    {"role": "user", "content": "What is 2 + 2? Put your reasoning in <think> tags and the answer in <answer> tags."},
]
# folder -> the format its generation prompt leaves open (learned by rendering, listed here to be checked)
OPENED_BY_TEMPLATE = {
    "deepseek-r1-distill-qwen": "think",
    "qwq-32b": "think",
    "qwen3-thinking-2507": "think",
    "qwen3.6": "think",
    "nemotron-nano-v2": "think",
    "qwen3": None,
    "smollm3": None,
    "deepseek-v3": None,
    "deepseek-v3.1": None,
    "gpt-oss": None,
    "magistral-small-2509": None,
    "llama-3.1": None,
    "gemma-3": None,
    "gemma-4": None,
    "granite-3.3": None,
    "kimi-k2-thinking": None,
    "seed-oss": None,
}


@lru_cache(maxsize=None)
def tokenizer(path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def render(tokenizers_dir, folder, messages, **kwargs):
    if folder == "gemma-3":  # roles must alternate; the system text is folded into the user turn anyway
        messages = [{"role": "user", "content": "\n\n".join(m["content"] for m in messages)}]
    return tokenizer(str(tokenizers_dir / folder)).apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, **kwargs
    )


@pytest.mark.parametrize("folder", list(OPENED_BY_TEMPLATE))
def test_real_generation_prompts(tokenizers_dir, folder):
    """Prefixed families are found by their generation tail; tags quoted in system/user text never count."""
    prompt = render(tokenizers_dir, folder, QUOTING)
    assert "<thinking>" in prompt or folder == "gpt-oss" and "thinking" in prompt
    found = prompt_opens_reasoning(prompt)
    assert (found.name if found else None) == OPENED_BY_TEMPLATE[folder]
    # An output the model wrote after it: a prefixed prompt's has only the close; the others' none.
    output = "The answer is 4." if found is None else "2 + 2 = 4.\n</think>\n\nThe answer is 4."
    split = get_format("auto").split(output, found is not None)
    assert (split.status, split.answer) == (V if found else M, "The answer is 4.")


@pytest.mark.parametrize(
    "folder, kwargs, expected",
    [
        ("gemma-4", {"enable_thinking": True}, None),  # the model writes <|channel>thought itself
        ("qwen3", {"enable_thinking": False}, None),  # an empty block closed in the prompt
        ("smollm3", {"enable_thinking": False}, None),
    ],
)
def test_real_generation_prompts_with_kwargs(tokenizers_dir, folder, kwargs, expected):
    found = prompt_opens_reasoning(render(tokenizers_dir, folder, QUOTING, **kwargs))
    assert (found.name if found else None) == expected


@pytest.mark.parametrize(
    "folder", ["qwen3", "gemma-4", "granite-3.3", "kimi-k2-thinking", "seed-oss", "llama-3.1", "gpt-oss"]
)
def test_steered_real_prompts(tokenizers_dir, folder):
    """A prompt a steering tool ended with a format's opening (and some prefilled reasoning) is prefixed."""
    fmt = FORMATS["harmony" if folder == "gpt-oss" else "gemma4" if folder == "gemma-4" else "think"]
    prompt = render(tokenizers_dir, folder, QUOTING)
    assert prompt_opens_reasoning(prompt + fmt.opening()) is fmt
    assert prompt_opens_reasoning(prompt + fmt.opening() + "Okay, so x < 5 and") is fmt
    assert prompt_opens_reasoning(prompt + fmt.opening() + "r" + fmt.closing()) is None


BARE_PROMPTS = [  # (id, prompt without chat markup, format): only its end can open a block
    ("study-system-prompt", "Reason inside <thinking> tags, then answer inside <output> tags.\n\nQ: 2 + 2?", None),
    ("quoted-open-mid-text", "Use <think> to start and </think> to end. Now: 2 + 2?", None),
    ("unclosed-quote-mid-text", "Write <think> first. Question: 2 + 2?", None),
    ("ends-with-open", "User: 2 + 2?\nAssistant: <think>", "think"),
    ("ends-with-open-and-newline", "User: 2 + 2?\nAssistant: <think>\n", "think"),
    ("prefill-after-open-needs-markup", "User: 2 + 2?\nAssistant: <think> Okay", None),
]


@pytest.mark.parametrize("prompt, expected", [pytest.param(*c[1:], id=c[0]) for c in BARE_PROMPTS])
def test_bare_prompts(prompt, expected):
    found = prompt_opens_reasoning(prompt)
    assert (found.name if found else None) == expected


ONE_SCAN = [
    "<think>r</think>4",
    "<think>r</think>4</answer>",
    "<think>r</think> <answer>4</answer> ",
    "<think>r</think>x < 5",
    "<think>r</think><answer>4",
    "<think>r</think>a<b",
    "<think>r</think>a</think>",
    "<think>r</think>a<think>b",
    "<think>x < 5 <tool_call>f",
    "<think>r</think><answer>4</answer>tail",
    "<think>r</think><answer>a<b>c</b></answer>",
    "<think>r",
    "<think>a <think>b</think></think>c",
    "<think>r</think>\n</think>a",
    "<think>r</think><Answer>4</Answer>",
    "<think>a <answer>4</answer> b</think>4",
    "<think>x<math>y</math></think>z",
    "<think>a</thinking>b</think>c",
    "<think>a<Think>b</think></think>c",
    "<think>a <b>x</b> <tool_call>f</think>c",
    "<think>a <answer>4",
    "<think>a <reasoning type='x'>b</think>c",
    "<think>a <|im_end|> b</think>c",
    "<think>a <seed:tool_call>b",
    "<think>r</think>\n<answer> 4 </answer>\n",
    "<think>r</think>x<answer>4</answer>",
    "<think>r</think><answer>4</answer> </b>",
    "<think>r</think><answer>x < 5</answer>",
]
# Other tags inside the block are its text to the rule, so these stay on the one-scan path (most real texts
# with a tag in their reasoning: R1-Zero-style models draft an <answer> before the close).
ONE_SCAN_TAKES = [
    "<think>a <answer>4</answer> b</think>4",
    "<think>x<math>y</math></think>z",
    "<think>a <answer>4",
    "<think>a <|im_end|> b</think>c",
    "<think>r</think>\n<answer> 4 </answer>\n",
    "<think>r</think><answer>4",
    "<think>r</think>x < 5",
]


@pytest.mark.parametrize("text", ONE_SCAN)
def test_one_scan_path_agrees_with_the_rule(text):
    """think's one-scan path (most records take it) gives what the general rule gives, or steps aside."""
    from thinkpack_cli.formats.base import TagFormat
    from thinkpack_cli.formats.think import split_plain

    fast = split_plain(text)
    assert fast is None or fast == TagFormat.split(FORMATS["think"], text)
    assert fast is None or fast == AutoFormat().split(text, spans=None)  # auto (with refiners) agrees too
    if text in ONE_SCAN_TAKES:
        assert fast is not None
