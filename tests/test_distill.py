"""tp distill against a real teacher on 127.0.0.1: exact outcomes per record, resume, kills, the key.

Each test scripts the server per record: a record's question is ``Question NAME?`` and
the script maps NAME to the replies for its first, second, … request (the last repeats).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinkpack_cli import cli, distill
from thinkpack_cli.errors import UsageError

sys.path.insert(0, str(Path(__file__).parent))
from teacher_server import Reply, TeacherServer, answer, error  # noqa: E402

KEY = "sk-test-7f3a9c1e5b2d4f60"
GOOD = answer("<think>2 + 2 makes 4.</think>The answer is \\boxed{4}.")
FAST = ["--backoff", "0.001", "--timeout", "5"]


def scripted(script: dict[str, list[Reply]], default: Reply = GOOD):
    def respond(request):
        replies = script.get(re.search(r"Question (\w+)\?", request.prompt)[1], [default])
        return replies[min(request.attempt, len(replies) - 1)]

    return respond


def write_records(path: Path, names, **fields) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": name, "question": f"Question {name}?", "answer": "4", **fields}) + "\n" for name in names
        )
    )
    return path


def tp_distill(server: TeacherServer, *args: str, env: dict | None = None):
    result = CliRunner().invoke(
        cli.app,
        ["distill", "--base-url", server.url, "--model", "teacher", *FAST, *args],
        env={"OPENAI_API_KEY": KEY, **(env or {})},
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def by_id(path: Path) -> dict:
    return {r["id"] if "id" in r else r["record"]["id"]: r for r in read_jsonl(path)}


def requests_of(server: TeacherServer, name: str) -> int:
    return sum(1 for r in server.requests if f"Question {name}?" in r.prompt)


def assert_key_nowhere(result, *paths: Path) -> None:
    assert KEY not in result.output
    for path in paths:
        assert not path.exists() or KEY not in path.read_text()


# ---------------------------------------------------------------------------- modes


def test_construct_takes_reasoning_content_or_parses_the_text(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a", "b"], extra={"kept": [1, 2]})
    script = {
        "a": [answer("4", reasoning_content="Two and two: 4.")],
        "b": [answer("<think>\nCount: 1, 2, 3, 4.\n</think>\n\nIt is 4.", prompt_tokens=7, completion_tokens=30)],
    }
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    out = by_id(tmp_path / "out.jsonl")
    assert out["a"]["reasoning"] == "Two and two: 4."
    assert out["b"]["reasoning"] == "Count: 1, 2, 3, 4."
    assert {k: v for k, v in out["b"].items() if k not in ("reasoning", "distill")} == {
        "id": "b",
        "question": "Question b?",
        "answer": "4",
        "extra": {"kept": [1, 2]},
    }
    meta = out["b"]["distill"]
    assert meta == {
        "key": meta["key"],
        "model": "teacher",
        "sample": 0,
        "kept": 1,
        "prompt_tokens": 7,
        "completion_tokens": 30,
    }
    assert meta["key"].startswith("hash:")
    prompt = next(r for r in server.requests if "Question b?" in r.prompt)
    assert "The correct final answer is: 4" in prompt.prompt
    assert prompt.body["model"] == "teacher" and prompt.path == "/v1/chat/completions"
    assert "tp distill: 2 records read: 2 done, 0 rejected, 0 failed" in result.stderr


def test_solve_grades_and_keeps_correct_first_or_all(tmp_path):
    wrong = answer("<think>Guessing.</think>\\boxed{5}")
    script = {"right": [GOOD], "wrong": [wrong], "third": [wrong, wrong, GOOD]}
    records = write_records(tmp_path / "in.jsonl", ["right", "wrong", "third"])
    with TeacherServer(scripted(script)) as server:
        first = tp_distill(
            server,
            str(records),
            "-o",
            str(tmp_path / "first.jsonl"),
            "--mode",
            "solve",
            "--grader",
            "exact",
            "--n",
            "3",
            "--keep",
            "first",
            "--id",
            "id",
        )
        assert first.exit_code == 0, first.output
        assert [requests_of(server, n) for n in ("right", "wrong", "third")] == [1, 3, 3]
    out = by_id(tmp_path / "first.jsonl")
    assert sorted(out) == ["right", "third"]
    assert out["third"]["correct"] is True and out["third"]["response"] == "The answer is \\boxed{4}."
    assert out["third"]["distill"]["sample"] == 2
    errors = by_id(tmp_path / "first.errors.jsonl")
    assert errors["wrong"]["outcome"] == "rejected"
    assert errors["wrong"]["reason"] == "no usable sample in 3: 3× wrong answer"

    with TeacherServer(scripted(script)) as server:
        every = tp_distill(
            server,
            str(records),
            "-o",
            str(tmp_path / "all.jsonl"),
            "--mode",
            "solve",
            "--grader",
            "exact",
            "--n",
            "3",
            "--keep",
            "all",
        )
    lines = sorted(
        (r["id"], r["distill"]["sample"], r["distill"]["kept"], r["correct"])
        for r in read_jsonl(tmp_path / "all.jsonl")
    )
    assert lines == [
        *[("right", i, 3, True) for i in range(3)],
        ("third", 0, 3, False),
        ("third", 1, 3, False),
        ("third", 2, 3, True),
        *[("wrong", i, 3, False) for i in range(3)],
    ]
    assert "3 records read: 3 done, 0 rejected, 0 failed" in every.stderr
    assert "9 lines appended" in every.stderr


def test_solve_keep_correct_keeps_every_correct_sample(tmp_path):
    wrong = answer("<think>Guessing.</think>\\boxed{5}")
    records = write_records(tmp_path / "in.jsonl", ["mixed"])
    with TeacherServer(scripted({"mixed": [GOOD, wrong, GOOD, wrong]})) as server:
        tp_distill(
            server, str(records), "-o", str(tmp_path / "out.jsonl"), "--mode", "solve", "--grader", "exact", "--n", "4"
        )
    lines = read_jsonl(tmp_path / "out.jsonl")
    assert [(r["distill"]["sample"], r["distill"]["kept"], r["correct"]) for r in lines] == [(0, 2, True), (2, 2, True)]


def test_solve_uses_the_math_grader_of_tp_stats(tmp_path):
    records = tmp_path / "in.jsonl"
    records.write_text(
        json.dumps({"id": "half", "question": "Question half?", "gold": "1/2"})
        + "\n"
        + json.dumps({"id": "three", "question": "Question three?", "gold": "3"})
        + "\n"
    )
    script = {
        "half": [answer("<think>Halve it.</think>So the answer is $0.5$.")],
        "three": [answer("<think>Add.</think>\\boxed{4}")],
    }
    with TeacherServer(scripted(script)) as server:
        tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--mode", "solve", "--keep", "all")
    assert {r["id"]: r["correct"] for r in read_jsonl(tmp_path / "out.jsonl")} == {"half": True, "three": False}


def test_feedback_stores_feedback_and_guided_solution(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["ok", "half"], attempt="2 + 2 = 5, since 2 + 3 = 5")
    good = answer(
        "<feedback>You added 3 instead of 2.</feedback>\n<solution>Start from 2 + 2: that is 4. \\boxed{4}</solution>",
        reasoning_content="The student slipped.",
    )
    with TeacherServer(
        scripted({"ok": [good], "half": [answer("<feedback>Close.</feedback> The answer is 4.")]})
    ) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--mode", "feedback")
    assert "2 + 2 = 5, since 2 + 3 = 5" in server.requests[0].prompt
    out = by_id(tmp_path / "out.jsonl")
    assert list(out) == ["ok"]
    assert (out["ok"]["reasoning"], out["ok"]["feedback"], out["ok"]["guided_solution"]) == (
        "The student slipped.",
        "You added 3 instead of 2.",
        "Start from 2 + 2: that is 4. \\boxed{4}",
    )
    assert by_id(tmp_path / "out.errors.jsonl")["half"]["reason"] == "no <solution>…</solution> in the response"
    assert "2 records read: 1 done, 1 rejected, 0 failed" in result.stderr


def test_custom_template_sees_the_record(tmp_path):
    template = tmp_path / "prompt.jinja"
    template.write_text("Question {{ record.id }}? Topic: {{ record.topic | upper }}.")
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"id": "t1", "topic": "sums"}) + "\n" + json.dumps({"id": "t2"}) + "\n")
    with TeacherServer(scripted({})) as server:
        result = tp_distill(
            server,
            str(records),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--prompt-template",
            str(template),
            "--on-error",
            "skip",
        )
    assert [r.prompt for r in server.requests] == ["Question t1? Topic: SUMS."]
    assert "1 done, 0 rejected, 0 failed, 1 unreadable" in result.stderr
    assert (
        "skipped" in result.stderr
        and "in.jsonl:2: prompt template: 'dict object' has no attribute 'topic'" in result.stderr
    )

    template.write_text("{% if %}")
    with TeacherServer(scripted({})) as server:
        broken = tp_distill(
            server, str(records), "-o", str(tmp_path / "out2.jsonl"), "--prompt-template", str(template)
        )
    assert broken.exit_code == 2 and f"{template}:1:" in broken.stderr


def test_a_bad_record_stops_the_run_before_anything_is_paid_for(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a", "b"])
    with records.open("a") as f:
        f.write(json.dumps({"id": "c", "question": "Question c?"}) + "\n")  # no known answer
    with TeacherServer(scripted({})) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2
    assert "in.jsonl:3: no gold answer field: looked for gold, reference, answer, response, output" in result.stderr
    assert server.requests == []


# ---------------------------------------------------------------------------- faults


def test_every_fault_has_its_exact_outcome(tmp_path):
    script = {
        "limited": [error(429, headers={"Retry-After": "0"}), GOOD],
        "flaky": [error(500), error(503), GOOD],
        "slow": [Reply(delay=5.0), GOOD],
        "dropped": [Reply(drop=True), GOOD],
        "garbled": [Reply(body=b'{"choices": [{"message"'), GOOD],
        "truncated": [answer("<think>Let me count: 1, 2, 3", finish="length")],
        "unclosed": [answer("<think>Let me count: 1, 2, 3, 4 and so")],
        "no_trace": [answer("4")],
        "bad_request": [error(400, "prompt too long")],
        "down": [error(500, "boom")],
    }
    records = write_records(tmp_path / "in.jsonl", script)
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(
            server, str(records), "-o", str(tmp_path / "out.jsonl"), "--timeout", "1", "--max-retries", "2"
        )
    assert result.exit_code == 3, result.output  # incomplete: two records failed after every retry
    assert "tp: incomplete: 2 records failed after every retry" in result.stderr
    assert sorted(by_id(tmp_path / "out.jsonl")) == ["dropped", "flaky", "garbled", "limited", "slow"]
    errors = {name: (e["outcome"], e["reason"]) for name, e in by_id(tmp_path / "out.errors.jsonl").items()}
    assert errors == {
        "truncated": ("rejected", "cut off at the token limit (finish_reason length)"),
        "unclosed": ("rejected", "the reasoning block never closes"),
        "no_trace": ("rejected", "no reasoning in the response"),
        "bad_request": ("failed", "HTTP 400: prompt too long"),
        "down": ("failed", "HTTP 500: boom (after 3 tries)"),
    }
    assert {name: requests_of(server, name) for name in script} == {
        "limited": 2,
        "flaky": 3,
        "slow": 2,
        "dropped": 2,
        "garbled": 2,
        "truncated": 1,
        "unclosed": 1,
        "no_trace": 1,
        "bad_request": 1,
        "down": 3,
    }
    assert "10 records read: 5 done, 3 rejected, 2 failed" in result.stderr
    assert "; 8 retries;" in result.stderr  # limited 1, flaky 2, slow 1, dropped 1, garbled 1, down 2


def test_retry_after_is_honoured(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["busy", "busier"])
    script = {
        "busy": [error(429, headers={"Retry-After": "1"}), GOOD],
        "busier": [error(503, headers={"retry-after-ms": "600"}), GOOD],
    }
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0
    for name, wait in (("busy", 1.0), ("busier", 0.6)):
        first, second = (r.at for r in server.requests if f"Question {name}?" in r.prompt)
        assert second - first >= wait - 0.01  # --backoff 0.001 alone would have come back at once


def test_backoff_doubles_with_jitter_and_retry_after_is_a_floor():
    teacher = distill.Teacher(distill.DistillOptions("http://127.0.0.1:1/v1", "m", backoff=1.0), None, distill.Counts())
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (8, 60.0)):
        delays = [teacher.delay(attempt, None) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 10  # spread, so workers turned away together part
    assert all(7.0 <= teacher.delay(1, 7.0) <= 7.5 for _ in range(100))


def test_a_refused_key_stops_the_run_and_the_key_is_never_shown(tmp_path):
    records = write_records(tmp_path / "in.jsonl", [f"r{i}" for i in range(20)])
    with TeacherServer(lambda request: error(401, f"Incorrect API key provided: {KEY}")) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--concurrency", "2")
    assert result.exit_code == 2
    assert "the API key was refused (HTTP 401: Incorrect API key provided: [API key])" in result.stderr
    assert len(server.requests) <= 2  # no record after the refusal was sent
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert_key_nowhere(result, tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl")


def test_the_key_never_reaches_output_errors_or_terminal(tmp_path):
    script = {"echo": [error(400, f"bad request from key {KEY}")], "fine": [GOOD], "down": [Reply(drop=True)]}
    records = write_records(tmp_path / "in.jsonl", script)
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--max-retries", "1")
    errors = by_id(tmp_path / "out.errors.jsonl")
    assert errors["echo"]["reason"] == "HTTP 400: bad request from key [API key]"
    assert errors["down"]["outcome"] == "failed"
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert_key_nowhere(result, tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl")


def test_the_key_from_another_variable_and_no_key_at_all(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    with TeacherServer(scripted({})) as server:
        tp_distill(
            server,
            str(records),
            "-o",
            str(tmp_path / "a.jsonl"),
            "--api-key-env",
            "TEACHER_KEY",
            env={"TEACHER_KEY": "sk-other", "OPENAI_API_KEY": None},
        )
        tp_distill(server, str(records), "-o", str(tmp_path / "b.jsonl"), env={"OPENAI_API_KEY": None})
        unset = tp_distill(server, str(records), "-o", str(tmp_path / "c.jsonl"), "--api-key-env", "NOT_SET")
    assert server.requests[0].headers["authorization"] == "Bearer sk-other"
    assert "authorization" not in server.requests[1].headers
    assert len(server.requests) == 2 and unset.exit_code == 2


def test_a_redirect_is_not_followed_with_the_key(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    with TeacherServer(scripted({})) as elsewhere:
        moved = Reply(307, b"", {"Location": f"{elsewhere.url}/chat/completions"})
        with TeacherServer(lambda request: moved) as server:
            result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2 and "redirects to" in result.stderr
    assert elsewhere.requests == []


def test_the_key_echoed_in_an_answer_is_blanked_in_the_output(tmp_path):
    """Proves a 200 answer that repeats the key (in reasoning_content, in content, and JSON-escaped
    as \\u0073k-…) is written with the key blanked everywhere."""
    escaped = answer(f"<think>it uses {KEY}</think>4").body.replace(KEY.encode(), b"\\u0073" + KEY[1:].encode())
    assert KEY.encode() not in escaped
    script = {
        "echo": [answer(f"4, says {KEY}", reasoning_content=f"the key is {KEY}.")],
        "escaped": [Reply(body=escaped)],
    }
    records = write_records(tmp_path / "in.jsonl", script)
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    out = by_id(tmp_path / "out.jsonl")
    assert out["echo"]["reasoning"] == "the key is [API key]."
    assert out["escaped"]["reasoning"] == "it uses [API key]"
    assert_key_nowhere(result, tmp_path / "out.jsonl")


def test_a_long_error_body_is_cut_after_the_key_is_blanked(tmp_path):
    """Proves a 500 body that is not JSON, with the key across the 200 characters kept, leaves no
    piece of the key in the errors file."""
    body = b"x" * 190 + KEY.encode() + b"y" * 50
    records = write_records(tmp_path / "in.jsonl", ["down"])
    with TeacherServer(lambda request: Reply(500, body)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--max-retries", "0")
    reason = by_id(tmp_path / "out.errors.jsonl")["down"]["reason"]
    assert reason.startswith("HTTP 500: " + "x" * 190) and "[API key]" in reason
    assert KEY[:7] not in (tmp_path / "out.errors.jsonl").read_text() and KEY[:7] not in result.output


def test_a_redirect_location_holding_the_key_is_blanked(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    moved = Reply(307, b"", {"Location": f"http://127.0.0.1:1/v1/chat/completions?api_key={KEY}"})
    with TeacherServer(lambda request: moved) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert (
        result.exit_code == 2
        and "redirects to http://127.0.0.1:1/v1/chat/completions?api_key=[API key]" in result.stderr
    )
    assert_key_nowhere(result, tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl")


def test_retry_after_is_capped_by_max_retry_wait_and_said(tmp_path):
    """Proves Retry-After: 999999 waits --max-retry-wait (0.3 s), not eleven days, and says so."""
    records = write_records(tmp_path / "in.jsonl", ["busy"])
    script = {"busy": [error(429, headers={"Retry-After": "999999"}), GOOD]}
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--max-retry-wait", "0.3")
    assert result.exit_code == 0, result.output
    first, second = (r.at for r in server.requests)
    assert second - first >= 0.3
    assert (
        "asks to wait 999999 s before retrying (Retry-After); waiting 0.3 s at most (--max-retry-wait)" in result.stderr
    )
    tally = distill.Counts(capped_waits=1)
    assert "1 Retry-After waits cut to --max-retry-wait" in distill.Progress(tally, show=False).status()


def test_a_response_body_over_the_cap_is_not_read(tmp_path):
    """Proves a body over max_response_bytes fails its record (named, after the retries) instead of being read whole."""
    records = write_records(tmp_path / "in.jsonl", ["huge", "fine"])
    huge = answer("<think>" + "x" * 50_000 + "</think>4")
    tally = distill.Counts()
    with TeacherServer(scripted({"huge": [huge]})) as server:
        options = distill.DistillOptions(server.url, "teacher", max_response_bytes=10_000, max_retries=1, backoff=0.001)
        distill.run([str(records)], options, str(tmp_path / "out.jsonl"), tally, api_key=KEY, show_progress=False)
    assert (tally.done, tally.failed) == (1, 1)
    reason = by_id(tmp_path / "out.errors.jsonl")["huge"]["reason"]
    assert re.fullmatch(r"response of [\d,]+ bytes, over the 10,000 read \(after 2 tries\)", reason), reason


def test_absurd_usage_counts_do_not_abort_the_run(tmp_path):
    """Proves usage counts no JSON line can hold (1e30), negative or not numbers are kept as unknown
    (null), the record done and the tokens summed from the sane ones."""
    script = {
        "huge": [answer("<think>x</think>4", prompt_tokens=1e30, completion_tokens=-5)],
        "words": [
            Reply(body=answer("<think>x</think>4").body.replace(b'"prompt_tokens": 10', b'"prompt_tokens": "many"'))
        ],
        "fine": [answer("<think>x</think>4", prompt_tokens=7, completion_tokens=3)],
    }
    records = write_records(tmp_path / "in.jsonl", script)
    with TeacherServer(scripted(script)) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    out = by_id(tmp_path / "out.jsonl")
    assert (out["huge"]["distill"]["prompt_tokens"], out["huge"]["distill"]["completion_tokens"]) == (None, None)
    assert (out["words"]["distill"]["prompt_tokens"], out["words"]["distill"]["completion_tokens"]) == (None, 20)
    assert "tokens: 7 prompt + 23 completion" in result.stderr


# ---------------------------------------------------------------------------- inputs and outputs


@pytest.mark.parametrize(
    "question", [["What is 2 + 2?"], 42, "", "   ", {"text": "hi"}], ids=["list", "int", "empty", "blank", "dict"]
)
def test_a_question_that_is_not_text_is_refused_not_sent(tmp_path, question):
    """Proves a question that is no text is a record error (the run stops before paying for anything)
    and, with --on-error skip, that record alone is reported and never sent as a Python repr."""
    records = tmp_path / "in.jsonl"
    records.write_text(
        json.dumps({"id": "bad", "question": question, "answer": "4"})
        + "\n"
        + json.dumps({"id": "good", "question": "Question good?", "answer": "4"})
        + "\n"
    )
    with TeacherServer(scripted({})) as server:
        stopped = tp_distill(server, str(records), "-o", str(tmp_path / "a.jsonl"))
        assert stopped.exit_code == 2 and "in.jsonl:1: field 'question' is" in stopped.stderr
        assert server.requests == []
        skipped = tp_distill(server, str(records), "-o", str(tmp_path / "b.jsonl"), "--on-error", "skip")
    assert skipped.exit_code == 0, skipped.output
    assert [r.prompt.count("Question good?") for r in server.requests] == [1]
    assert re.search(r"skipped .*in\.jsonl:1: field 'question' is (list|int|dict|empty)", skipped.stderr)


def test_outputs_that_are_one_file_or_an_input_are_refused(tmp_path):
    """Proves -o X --errors X (also through a symlink) and an output that is an input exit 2 before
    a request, leaving the files as they were."""
    records = write_records(tmp_path / "in.jsonl", ["a"])
    out = tmp_path / "out.jsonl"
    out.write_text("")
    (tmp_path / "link.jsonl").symlink_to(out)
    with TeacherServer(scripted({})) as server:
        same = tp_distill(server, str(records), "-o", str(out), "--errors", str(out))
        linked = tp_distill(server, str(records), "-o", str(out), "--errors", str(tmp_path / "link.jsonl"))
        looped = tp_distill(server, str(records), "-o", str(records))
        errors_in = tp_distill(server, str(records), "-o", str(out), "--errors", str(records))
        assert server.requests == []
    assert (
        same.exit_code == linked.exit_code == 2
        and "are the same file" in same.stderr
        and "are the same file" in linked.stderr
    )
    assert looped.exit_code == 2 and f"input {records} is also the output (-o {records})" in looped.stderr
    assert errors_in.exit_code == 2 and "is also the output (--errors" in errors_in.stderr
    assert out.read_text() == "" and records.read_text().count("\n") == 1


# ---------------------------------------------------------------------------- nothing lost, nothing twice


def test_rerun_retries_failed_skips_finished_and_never_duplicates(tmp_path):
    names = [f"r{i}" for i in range(12)]
    records = write_records(tmp_path / "in.jsonl", names)
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    outage = {"r3": [error(500)], "r7": [Reply(drop=True)], "r9": [answer("<think>so", finish="length")]}
    with TeacherServer(scripted(outage)) as server:
        first = tp_distill(server, str(records), "-o", str(out), "--max-retries", "1")
    assert "12 records read: 9 done, 1 rejected, 2 failed" in first.stderr
    assert "rerun the same command" in first.stderr
    assert sorted(by_id(errors)) == ["r3", "r7", "r9"]

    with TeacherServer(scripted({})) as server:
        second = tp_distill(server, str(records), "-o", str(out))
        assert sorted(re.search(r"Question (\w+)\?", r.prompt)[1] for r in server.requests) == ["r3", "r7"]
    assert "12 records read: 2 done, 0 rejected, 0 failed, 10 finished by an earlier run" in second.stderr
    assert [e["outcome"] for e in read_jsonl(errors)] == ["rejected"]  # the failures, now done, are gone

    with TeacherServer(scripted({})) as server:
        third = tp_distill(server, str(records), "-o", str(out), "--retry-rejected")
        assert [re.search(r"Question (\w+)\?", r.prompt)[1] for r in server.requests] == ["r9"]
    assert "1 done, 0 rejected, 0 failed, 11 finished by an earlier run" in third.stderr
    assert not errors.exists()
    assert sorted(r["id"] for r in read_jsonl(out)) == sorted(names)


def test_duplicates_in_the_input_are_asked_for_once(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a", "b", "a"])
    with TeacherServer(scripted({})) as server:
        by_content = tp_distill(server, str(records), "-o", str(tmp_path / "hash.jsonl"))
        by_field = tp_distill(server, str(records), "-o", str(tmp_path / "id.jsonl"), "--id", "id")
    assert "3 records read: 2 done, 0 rejected, 0 failed, 1 duplicates" in by_content.stderr
    assert "3 records read: 2 done, 0 rejected, 0 failed, 1 duplicates" in by_field.stderr
    assert sorted(r["distill"]["key"] for r in read_jsonl(tmp_path / "id.jsonl")) == ['id:id:"a"', 'id:id:"b"']


def test_a_torn_last_record_is_cut_off_and_asked_again(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a", "b", "c"])
    out = tmp_path / "out.jsonl"
    wrong = answer("<think>Guess.</think>\\boxed{5}")
    with TeacherServer(scripted({"c": [wrong, GOOD]})) as server:
        tp_distill(
            server,
            str(records),
            "-o",
            str(out),
            "--mode",
            "solve",
            "--grader",
            "exact",
            "--n",
            "2",
            "--keep",
            "all",
            "--concurrency",
            "1",
        )
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    # A kill in the middle of writing c's two lines: its first line whole, its second torn.
    out.write_bytes(b"".join(lines[:5]) + lines[5][:17])
    with TeacherServer(scripted({"c": [wrong, GOOD]})) as server:
        result = tp_distill(
            server, str(records), "-o", str(out), "--mode", "solve", "--grader", "exact", "--n", "2", "--keep", "all"
        )
        assert len(server.requests) == 2 and all("Question c?" in r.prompt for r in server.requests)
    assert "1 done, 0 rejected, 0 failed, 2 finished by an earlier run" in result.stderr
    assert out.read_bytes() == b"".join(lines)


def test_a_torn_errors_entry_is_cut_off_before_anything_is_appended(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    errors = tmp_path / "out.errors.jsonl"
    with TeacherServer(scripted({"a": [answer("no trace")]})) as server:
        tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"))
    whole = errors.read_bytes()
    errors.write_bytes(whole + b'{"key": "hash:0f')
    ledger = distill.Ledger(str(tmp_path / "out.jsonl"), None, "hash")
    try:
        assert errors.read_bytes() == whole
        assert [e["outcome"] for e in ledger.entries.values()] == ["rejected"]
    finally:
        ledger.close()


def test_an_output_keyed_otherwise_or_not_ours_is_refused(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    out = tmp_path / "out.jsonl"
    with TeacherServer(scripted({})) as server:
        tp_distill(server, str(records), "-o", str(out))
        keyed = tp_distill(server, str(records), "-o", str(out), "--id", "id")
        foreign = tmp_path / "notes.jsonl"
        foreign.write_text('{"some": "data"}\n')
        theirs = tp_distill(server, str(records), "-o", str(foreign))
        compressed = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl.gz"))
    assert keyed.exit_code == 2 and "keyed by content (no --id), this run's by --id id" in keyed.stderr
    assert theirs.exit_code == 2 and "not a line tp distill wrote" in theirs.stderr
    assert foreign.read_text() == '{"some": "data"}\n'
    assert compressed.exit_code == 2 and "plain JSON Lines" in compressed.stderr
    assert len(server.requests) == 1


def test_two_runs_cannot_append_to_one_output(tmp_path):
    first = distill.Ledger(str(tmp_path / "out.jsonl"), None, "hash")
    try:
        with pytest.raises(UsageError, match="another tp distill is writing"):
            distill.Ledger(str(tmp_path / "out.jsonl"), None, "hash")
    finally:
        first.close()


def _start_tp(server: TeacherServer, records: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "thinkpack_cli",
            "distill",
            str(records),
            "-o",
            str(out),
            "--base-url",
            server.url,
            "--model",
            "teacher",
            "--id",
            "id",
            "--concurrency",
            "8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OPENAI_API_KEY": KEY, "CI": "1"},
    )


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_killed_runs_then_a_rerun_give_every_record_exactly_once(tmp_path, stop):
    """Proves kills at three points, then a rerun, give every record once, none asked twice. The
    server answers a set number of requests and holds the rest: the signal goes once it holds one
    request per worker, so every answered record is on disk and the run cannot have finished."""
    names = [f"r{i}" for i in range(240)]
    records = write_records(tmp_path / "in.jsonl", names)
    out = tmp_path / "out.jsonl"
    budget, answered = [0], [0]

    def respond(request):
        if answered[0] < budget[0]:
            answered[0] += 1
            return GOOD
        return Reply(GOOD.status, GOOD.body, hold=True)

    with TeacherServer(respond) as server:
        for round, at in enumerate((1, 60, 150), 1):
            budget[0] = at
            process = _start_tp(server, records, out)
            assert server.wait_held(8 * round), "the run never sent a request past the answered ones"
            process.send_signal(stop)
            assert process.wait(timeout=60) == (-signal.SIGKILL if stop == signal.SIGKILL else 130)
            if stop == signal.SIGINT:
                assert "not finished (interrupted)" in process.stderr.read().decode()
            assert out.read_bytes().count(b"\n") == at  # each answered record written, whole, once
        written = {r["id"] for r in read_jsonl(out)}
        asked_before = len(server.requests)
        budget[0] = len(names) * 2
        server.release()
        final = _start_tp(server, records, out)
        _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()
    ids = [r["id"] for r in read_jsonl(out)]
    assert sorted(ids) == sorted(names)  # every record exactly once
    rerun = [re.search(r"Question (\w+)\?", r.prompt)[1] for r in server.requests[asked_before:]]
    assert len(written) == 150 and not written & set(rerun)  # nothing finished before the kills was asked for again
    assert KEY not in stderr.decode() + out.read_text()


# ---------------------------------------------------------------------------- the command


def test_summary_reconciles_and_prices_tokens(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a", "b", "c"])
    script = {
        "a": [answer("<think>x</think>4", prompt_tokens=1_000_000, completion_tokens=500_000)],
        "b": [answer("4", prompt_tokens=1_000_000, completion_tokens=0)],
    }
    with TeacherServer(scripted(script, default=error(400, "no"))) as server:
        result = tp_distill(
            server, str(records), "-o", str(tmp_path / "out.jsonl"), "--price-in", "0.5", "--price-out", "2"
        )
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "tp distill: 3 records read: 1 done, 1 rejected, 1 failed",
        f"  1 lines appended to {tmp_path / 'out.jsonl'}",
    ]
    assert lines[2].startswith("  tokens: 2,000,000 prompt + 500,000 completion, cost $2.00; 3 records in ")


def test_help_has_examples():
    result = CliRunner().invoke(cli.app, ["distill", "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.stdout and "tp distill" in result.stdout


def test_keep_is_only_for_solve(tmp_path):
    records = write_records(tmp_path / "in.jsonl", ["a"])
    with TeacherServer(scripted({})) as server:
        result = tp_distill(server, str(records), "-o", str(tmp_path / "out.jsonl"), "--keep", "all")
    assert result.exit_code == 2 and "--keep applies to --mode solve" in result.stderr
