"""Reading labels back as text: the decoded runs of trained tokens, and the runs that should train.

Shared by the tp mask tests; a check compares the two lists of strings exactly.
"""

from __future__ import annotations

# A segment's part: prompt, think or answer; "given" is think the generation prompt already holds
# (an opened <think>\n): it trains only when neither prompt nor think is masked.
PARTS = ("prompt", "think", "given", "answer")


def decode(tok, ids) -> str:
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def trained_runs(tok, out: dict, ignore_index: int = -100) -> list[str]:
    """The decoded runs of consecutive trained tokens."""
    runs, run = [], []
    for token, label in zip(out["input_ids"], out["labels"]):
        if label == ignore_index:
            if run:
                runs.append(run)
            run = []
        else:
            assert label == token
            run.append(token)
    if run:
        runs.append(run)
    return [decode(tok, r) for r in runs]


def _masked(part: str, mask) -> bool:
    if part == "given":
        return "prompt" in mask or "think" in mask
    return part in mask


def trained_chars(text: str, segments: list[tuple[str, str]], mask) -> list[bool]:
    """Per character, whether it should train: ``segments`` are the (part, text) of the trained
    turns and of history reasoning, in order; everything else is prompt."""
    trained = ["prompt" not in mask] * len(text)
    pos = 0
    for part, segment in segments:
        start = text.index(segment, pos)
        trained[start : start + len(segment)] = [not _masked(part, mask)] * len(segment)
        pos = start + len(segment)
    return trained


def expected_runs(text: str, segments: list[tuple[str, str]], mask) -> list[str]:
    """The runs of text that should train, character by character."""
    runs, was = [], False
    for ch, trained in zip(text, trained_chars(text, segments, mask)):
        if trained:
            if was:
                runs[-1] += ch
            else:
                runs.append(ch)
        was = trained
    return runs


def expected_token_runs(tok, out: dict, segments: list[tuple[str, str]], mask) -> list[str]:
    """The decoded runs of tokens that should train: a token trains only if every character it
    covers should (tp's rule for a token that straddles a boundary)."""
    text = decode(tok, out["input_ids"])
    encoding = tok.backend_tokenizer.encode(text, add_special_tokens=False)
    assert encoding.ids == out["input_ids"]
    chars = trained_chars(text, segments, mask)
    runs, run = [], []
    for token, (a, b) in zip(encoding.ids, encoding.offsets):
        if all(chars[a:b]):
            run.append(token)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return [decode(tok, r) for r in runs]


def check_audit(out: dict, ignore_index: int = -100) -> None:
    n = len(out["input_ids"])
    assert len(out["labels"]) == len(out["attention_mask"]) == n and set(out["attention_mask"]) == {1}
    assert out["prompt_tokens"] + out["think_tokens"] + out["answer_tokens"] == n
    assert out["trained_tokens"] == sum(label != ignore_index for label in out["labels"])


# One single-turn and one multi-turn conversation, with or without reasoning, for the label tests.
Q, R, A = "What is 2 + 2?", "Let me add two and two: that makes four.", "The answer is 4."
Q1, R1, A1 = "Hi there.", "A greeting; greet back.", "Hello!"
MASKS = ["prompt,think", "prompt", "think", "answer", "prompt,answer", "think,answer", "none"]


def single(reasoning: bool) -> dict:
    record = {"id": "s", "instruction": Q, "response": A}
    return {**record, "reasoning": R} if reasoning else record


def multi(reasoning: bool) -> dict:
    first = {"role": "assistant", "content": A1, **({"reasoning_content": R1} if reasoning else {})}
    last = {"role": "assistant", "content": f"<think>{R}</think>{A}" if reasoning else A}
    return {
        "id": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": Q1},
            first,
            {"role": "user", "content": Q},
            last,
        ],
    }


# A tool conversation, for the tool-turn tests.
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
RC, RF, RESULT = "I should call the weather tool.", "The tool says 18 C.", "18 C, sunny"
A_TOOL = "It is 18 C and sunny in Paris."


def tool_record(ends_with_call: bool) -> dict:
    """A user asks, the assistant reasons and calls (arguments as a JSON string, as OpenAI sends
    them), the tool answers, the assistant reasons and answers; or the record ends with the call."""
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "reasoning_content": RC, "tool_calls": [call]},
    ]
    if not ends_with_call:
        messages += [
            {"role": "tool", "content": RESULT, "tool_call_id": "call_1", "name": "get_weather"},
            {"role": "assistant", "content": A_TOOL, "reasoning_content": RF},
        ]
    return {"id": "t", "messages": messages, "tools": TOOLS}
