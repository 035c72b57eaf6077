"""Hostile inputs and a hostile machine, as real `tp` processes: cut and garbage files, replaced
inputs, huge numbers, symlinks, folders, read-only and full disks, closed streams, signals, kill -9,
runaway chat templates. Each run must end with one line and its exit code, leave no temporary
file and no process behind, and never lose or invent a record.

Runs wait on events they can see (tp opening a FIFO, a line of output, a process's signal mask or
its exit, through a pidfd), never on sleeps.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TP = [sys.executable, "-m", "thinkpack_cli"]
LIMIT = 120  # seconds any one run may take before the test fails instead of hanging


def tp(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*TP, *map(str, args)], capture_output=True, timeout=LIMIT, **kwargs)


def start(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*TP, *map(str, args)], **kwargs)


def records(n: int, pad: int = 0) -> list[dict]:
    return [{"i": i, "response": f"<think>{'r' * pad}{i}</think>answer {i}"} for i in range(n)]


def jsonl(recs: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in recs).encode()


def lines(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def assert_one_line_error(result, code: int = 2, *words: str) -> str:
    """Exit ``code``, and stderr one ``tp: error:`` line holding ``words``: no traceback, no 'bug'."""
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert err.count("\n") == 1 and err.startswith("tp: error: "), err
    assert "Traceback" not in err and "internal error" not in err and "bug" not in err, err
    for word in words:
        assert word in err, err
    return err


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` (any process, not only a child) ended within ``timeout``: a pidfd
    becomes readable when it exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
    return found


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (its SigCgt mask in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(mask >> (signum - 1) & 1)


@contextlib.contextmanager
def tmpfs(path, *options: str):
    """A small tmpfs at ``path`` (tp's tests run as root in CI); skips where mounting is not allowed."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


# ---------------------------------------------------------------------------- bad bytes


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """400,000 records (over 15 MB): enough blocks for workers, and for a cut to fall mid-file."""
    folder = tmp_path_factory.mktemp("many")
    data = jsonl(records(400_000))
    (folder / "all.jsonl").write_bytes(data)
    return folder, data


@pytest.mark.parametrize("on_error", ["fail", "skip"])
@pytest.mark.parametrize("kind", ["zst", "gz"])
def test_a_cut_compressed_file_is_an_input_error_whatever_on_error_says(tmp_path, many, kind, on_error):
    """262,144 of 400,000 records and exit 0, before: a cut stream read as a shorter file."""
    _, data = many
    packed = gzip.compress(data) if kind == "gz" else pytest.importorskip("zstandard").ZstdCompressor().compress(data)
    path = tmp_path / f"cut.jsonl.{kind}"
    path.write_bytes(packed[: len(packed) // 2])
    result = tp("parse", path, "-q", "--on-error", on_error, "-o", tmp_path / "out.jsonl")
    assert_one_line_error(result, 2, str(path), "truncated")
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no output, no temp file


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("random.jsonl.zst", os.urandom(4096), ["not zstd data"]),
        ("random.jsonl.gz", os.urandom(4096), ["not gzip data"]),
        ("garbage.jsonl.gz", b"\x1f\x8b\x08\x00" + os.urandom(4096), ["corrupt gzip data"]),
        ("garbage.jsonl.zst", b"\x28\xb5\x2f\xfd" + os.urandom(4096), ["corrupt zstd data"]),
    ],
    ids=["random-named-zst", "random-named-gz", "garbage-gz", "garbage-zst"],
)
def test_bytes_that_are_not_what_their_name_says_are_refused(tmp_path, name, content, words):
    pytest.importorskip("zstandard")
    path = tmp_path / name
    path.write_bytes(content)
    result = tp("parse", path, "--on-error", "skip")
    assert_one_line_error(result, 2, str(path), *words)
    assert result.stdout == b""


def test_a_corrupt_parquet_page_is_an_input_error(tmp_path):
    path = tmp_path / "in.parquet"
    table = pa.table({"response": [f"<think>r{i}</think>a {i} " + "x" * 50 for i in range(20000)]})
    pq.write_table(table, path, compression="snappy", row_group_size=5000)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = b"\xff" * 2000  # inside a data page, the footer intact
    path.write_bytes(bytes(data))
    assert_one_line_error(tp("parse", path, "-q", "-o", tmp_path / "out.jsonl"), 2, str(path), "not a readable Parquet")
    assert os.listdir(tmp_path) == ["in.parquet"]


def test_a_parquet_file_named_jsonl_is_read_as_parquet(tmp_path):
    path = tmp_path / "really.jsonl"
    pq.write_table(pa.Table.from_pylist(records(3)), path)
    result = tp("parse", path)
    assert result.returncode == 0, result.stderr
    assert [r["answer"] for r in lines(result.stdout)] == ["answer 0", "answer 1", "answer 2"]
    assert result.stderr.decode().count("\n") == 1  # the summary, not a line per bad "line"


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
def test_a_utf8_bom_is_accepted(tmp_path, compressed):
    data = b"\xef\xbb\xbf" + jsonl(records(2))
    path = tmp_path / ("in.jsonl.gz" if compressed else "in.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    result = tp("parse", path, "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert [r["i"] for r in lines(result.stdout)] == [0, 1]
    assert b"2 records read, 2 written, 0 skipped" in result.stderr


def test_a_json_array_on_line_1_is_a_skipped_line_under_skip(tmp_path):
    """Decided: with --on-error skip, line 1 holding an array is reported (with the hint) and the run goes on."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'[{"response": "a"}, {"response": "b"}]\n' + jsonl(records(2)))
    result = tp("parse", path, "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert [r["i"] for r in lines(result.stdout)] == [0, 1]
    err = result.stderr.decode()
    assert "3 records read, 2 written, 1 skipped" in err
    assert f"skipped {path}:1: a JSON array, not JSON Lines (convert it with: jq -c '.[]')" in err


def test_every_skipped_line_goes_to_the_skipped_file_and_20_to_the_summary(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(records(1)) + b"".join(b"oops %d\n" % i for i in range(25)))
    result = tp("parse", path, "--on-error", "skip", "--skipped", tmp_path / "skipped.jsonl")
    assert result.returncode == 0, result.stderr
    listed = lines((tmp_path / "skipped.jsonl").read_bytes())
    assert [(s["source"], s["line"]) for s in listed] == [(str(path), n) for n in range(2, 27)]
    assert all(s["reason"].startswith("malformed JSON") for s in listed)
    err = result.stderr.decode()
    assert err.count("  skipped ") == 20
    assert f"… and 5 more (all 25 are in {tmp_path / 'skipped.jsonl'})" in err


@pytest.mark.parametrize("command", [["stats"], ["report", "-o", "report.html"]], ids=["stats", "report"])
def test_stats_and_report_write_the_skipped_lines_of_every_input(tmp_path, command):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(jsonl(records(2)) + b"oops\n")
    b.write_bytes(b"[1]\n" + jsonl(records(2)))
    args = [str(tmp_path / c) if c.endswith(".html") else c for c in command]
    result = tp(*args[:1], a, b, *args[1:], "--on-error", "skip", "--skipped", tmp_path / "skipped.jsonl")
    assert result.returncode == 0, result.stderr
    listed = lines((tmp_path / "skipped.jsonl").read_bytes())
    assert [(s["source"], s["line"]) for s in listed] == [(str(a), 3), (str(b), 1)]


@pytest.mark.parametrize("command", ["mask", "steer"])
def test_every_command_with_on_error_skip_writes_its_skipped_lines(tmp_path, command):
    from tiny_chat import INLINE

    folder = tiny_folder(tmp_path, INLINE)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"oops\n" + json.dumps(CHAT).encode() + b"\n[1]\n")
    result = tp(
        command,
        path,
        "-t",
        folder,
        "-o",
        tmp_path / "out.jsonl",
        "--on-error",
        "skip",
        "--skipped",
        tmp_path / "skipped.jsonl",
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    listed = lines((tmp_path / "skipped.jsonl").read_bytes())
    assert [(s["source"], s["line"]) for s in listed] == [(str(path), 1), (str(path), 3)]
    assert len(lines((tmp_path / "out.jsonl").read_bytes())) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["parse", "\x1b]0;owned\x07\x1b[2J.jsonl"],  # a file name with a title-setting sequence
        ["parse", "-", "--field", "\x1b[31mred"],  # an option's value, echoed in the error
    ],
    ids=["file-name", "field-name"],
)
def test_control_characters_never_reach_the_terminal(tmp_path, args):
    result = tp(*args, input=jsonl(records(1)), cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in err), repr(err)
    assert "\\x1b" in err


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("number", ["123456789012345678901234567890", "-9223372036854775809", "18446744073709551616"])
def test_integers_beyond_64_bits_stay_exact_when_a_record_is_re_encoded(tmp_path, number):
    # The record holds a field parse owns ("answer"), so it is encoded whole, not appended to.
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"big": {number}, "answer": "old", "response": "<think>a</think>b"}}\n')
    result = tp("parse", path)
    assert result.returncode == 0, result.stderr
    assert f'"big":{number},' in result.stdout.decode()
    assert json.loads(result.stdout)["big"] == int(number)


def test_an_integer_beyond_64_bits_cannot_go_to_parquet_and_says_so(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"big": 123456789012345678901234567890, "response": "x"}\n')
    assert_one_line_error(tp("parse", path, "-o", tmp_path / "out.parquet"), 2, "'big'", "beyond 64 bits")
    assert os.listdir(tmp_path) == ["in.jsonl"]


# ---------------------------------------------------------------------------- output files


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(records(3)))
    return path


def test_output_through_a_symlink_writes_its_target(tmp_path, small):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "train.jsonl"
    target.write_text("old\n")
    link = tmp_path / "train.jsonl"
    link.symlink_to(target)
    assert tp("parse", small, "-o", link).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(lines(target.read_bytes())) == 3
    assert sorted(os.listdir(tmp_path / "real")) == ["train.jsonl"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_a_new_output_has_the_mode_the_umask_gives(tmp_path, small, umask, mode, suffix):
    """Every output was 0600 (mkstemp's), which a teammate or a training container cannot read."""
    out = tmp_path / f"out{suffix}"
    result = tp("parse", small, "-o", out, preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_replaced_output_keeps_its_mode(tmp_path, small):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o640)
    assert tp("parse", small, "-o", out, preexec_fn=lambda: os.umask(0o077)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_output_naming_a_folder_is_a_clear_error_and_leaves_nothing(tmp_path, small, suffix):
    folder = tmp_path / f"out{suffix}"
    folder.mkdir()
    assert_one_line_error(tp("parse", small, "-o", folder), 2, f"cannot write {folder}: it is a folder")
    assert os.listdir(folder) == [] and sorted(os.listdir(tmp_path)) == ["in.jsonl", folder.name]


def test_a_read_only_folder_is_one_line(tmp_path, small):
    with tmpfs(tmp_path / "ro", "ro", "size=64k") as ro:
        result = tp("parse", small, "-o", ro / "out.jsonl")
        assert_one_line_error(result, 2, str(ro / "out.jsonl"), "Read-only file system")


@pytest.mark.parametrize(
    "name, workers",
    [("out.jsonl", 1), ("out.jsonl", 2), ("out.jsonl.gz", 2), ("out.parquet", 2)],
    ids=["jsonl", "jsonl-workers", "gz", "parquet"],
)
def test_a_full_disk_is_one_line_and_leaves_no_temp_file(tmp_path, many, name, workers):
    folder, _ = many
    with tmpfs(tmp_path / "full", "size=256k") as full:
        result = tp("parse", folder / "all.jsonl", "-q", "-j", workers, "-o", full / name)
        assert_one_line_error(result, 2, f"cannot write {full / name}", "No space left on device")
        assert os.listdir(full) == []


@pytest.mark.parametrize(
    "args",
    [["parse", "SMALL"], ["parse", "MANY", "-j", "2"], ["stats", "SMALL"]],
    ids=["parse", "parse-workers", "stats"],
)
def test_stdout_on_dev_full_is_one_line(many, small, args):
    args = [str(small) if a == "SMALL" else str(many[0] / "all.jsonl") if a == "MANY" else a for a in args]
    with open("/dev/full", "wb") as full:
        result = subprocess.run([*TP, *args, "-q"], stdout=full, stderr=subprocess.PIPE, timeout=LIMIT)
    assert_one_line_error(result, 2, "No space left on device")


# ---------------------------------------------------------------------------- closed streams


def closing(fd: int):
    return lambda: os.close(fd)


def test_closed_stdin_is_one_line():
    assert_one_line_error(tp("parse", preexec_fn=closing(0)), 2, "stdin is closed")


def test_closed_stdout_is_one_line(small):
    result = subprocess.run([*TP, "parse", str(small)], stderr=subprocess.PIPE, preexec_fn=closing(1), timeout=LIMIT)
    assert_one_line_error(result, 2, "cannot write stdout")


def test_closed_stdout_with_an_output_file_is_no_problem(tmp_path, small):
    """No file tp opens may take the closed stdout's descriptor (and receive the data meant for it)."""
    result = subprocess.run(
        [*TP, "parse", str(small), "-o", str(tmp_path / "out.jsonl")],
        stderr=subprocess.PIPE,
        preexec_fn=closing(1),
        timeout=LIMIT,
    )
    assert result.returncode == 0, result.stderr
    assert len(lines((tmp_path / "out.jsonl").read_bytes())) == 3


@pytest.mark.parametrize("good", [True, False], ids=["good-input", "bad-input"])
def test_closed_stderr_changes_no_exit_code(tmp_path, small, good):
    path = small if good else tmp_path / "missing.jsonl"
    result = subprocess.run([*TP, "parse", str(path)], stdout=subprocess.PIPE, preexec_fn=closing(2), timeout=LIMIT)
    assert result.returncode == (0 if good else 2)
    assert len(lines(result.stdout)) == (3 if good else 0)


# ---------------------------------------------------------------------------- a replaced input


def test_an_input_replaced_during_the_run_is_read_as_it_was_opened(tmp_path):
    """Workers read byte ranges by path: after `mv new in.jsonl` they read the new file's bytes."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(records(60_000, pad=100)))  # several blocks
    (tmp_path / "new.jsonl").write_bytes(jsonl([{"j": i, "response": "n" * 120} for i in range(60_000)]))
    run = start("parse", "-q", "-j", "2", path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = run.stdout.readline()  # the run has begun; its output pipe fills and holds the workers back
    os.replace(tmp_path / "new.jsonl", path)
    rest = run.stdout.read()  # not communicate(): it would miss what readline() has buffered
    assert run.wait(timeout=LIMIT) == 0, run.stderr.read()
    assert [r.get("i") for r in lines(first + rest)] == list(range(60_000))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_output_over_its_own_input_is_the_input_transformed(tmp_path, suffix):
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(records(60_000, pad=100)))  # several blocks, read by workers
    target = tmp_path / f"data{suffix}"
    assert tp("parse", "-q", path, "-o", target).returncode == 0
    result = tp("parse", "-q", "-j", "2", target, "-o", target)
    assert result.returncode == 0, result.stderr
    out = tp("parse", "-q", target, "--field", "answer").stdout
    assert [r["i"] for r in lines(out)] == list(range(60_000))


# ---------------------------------------------------------------------------- signals and processes


@pytest.fixture
def fifo(tmp_path):
    """An input tp blocks on until the test writes: opening it for writing returns once tp has
    opened it for reading, so the run is under way (and its temp output exists)."""
    path = tmp_path / "in.jsonl"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "signum, code",
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_stops_the_run_like_ctrl_c(tmp_path, fifo, signum, code):
    run = start("parse", fifo, "-o", tmp_path / "out.jsonl", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(fifo, "wb") as writer:
        writer.write(jsonl(records(10)))
        writer.flush()
        run.send_signal(signum)
        _, err = run.communicate(timeout=LIMIT)
    assert run.returncode == code, err
    assert b"Traceback" not in err and err.decode().startswith("tp: error: interrupted")
    assert os.listdir(tmp_path) == ["in.jsonl"]  # the temp output is gone


def started_workers(fifo):
    """A run with worker processes, writing to stdout, and its input still open: (run, writer, workers)."""
    run = start("parse", "-q", "-j", "2", fifo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = open(fifo, "wb")

    def feed():  # in a thread: tp stops reading while its stdout pipe is full, until we read it
        with contextlib.suppress(BrokenPipeError, ValueError):
            writer.write(jsonl(records(30_000, pad=100)))  # three blocks: the pool starts on the second
            writer.flush()

    threading.Thread(target=feed, daemon=True).start()
    assert run.stdout.readline()  # a worker wrote a block
    workers = children(run.pid)
    assert workers
    return run, writer, workers


def test_kill_9_of_the_main_process_leaves_no_worker(fifo):
    run, writer, workers = started_workers(fifo)
    try:
        run.kill()
        run.wait(timeout=LIMIT)
        assert all(wait_for_exit(pid, 30) for pid in workers), "workers outlived the main process"
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run.stdout.close()
        with contextlib.suppress(BrokenPipeError):
            writer.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        utime, stime = f.read().rsplit(")", 1)[1].split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def test_kill_9_of_stats_leaves_no_grader_grinding_an_answer(tmp_path):
    """A grader busy on one answer (Math-Verify on this tower runs for minutes) dies with tp, not when done."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"response": r"$9^{9^{9^{9}}}$", "gold": "5"}) + "\n")
    run = start("stats", path, "--grade-timeout", "600", "-j", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    graders = []
    try:
        deadline = time.monotonic() + LIMIT
        while not any(cpu_seconds(pid) > 1.0 for pid in graders):  # a grader is deep in the item
            assert time.monotonic() < deadline, "no grader got to work"
            with contextlib.suppress(OSError, ValueError):
                graders = children(run.pid)
            # Between looks at the graders' CPU time, wait on the one event that would end the test early.
            assert not wait_for_exit(run.pid, 0.05), run.stderr.read()
        run.kill()
        run.wait(timeout=LIMIT)
        assert all(wait_for_exit(pid, 10) for pid in graders), "a grader outlived tp"
    finally:
        for pid in graders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_with_workers_stops_them_all(fifo):
    run, writer, workers = started_workers(fifo)
    try:
        run.terminate()
        _, err = run.communicate(timeout=LIMIT)
        assert run.returncode == 143, err
        assert all(wait_for_exit(pid, 30) for pid in workers), "workers outlived the main process"
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(BrokenPipeError):
            writer.close()


def test_ctrl_c_while_tp_starts_prints_no_traceback(fifo):
    """The signal lands while tp is still importing: after its handlers are in place (SIGTERM is
    caught from tp's first line), before any command runs."""
    run = start("parse", fifo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + LIMIT / 4
    while not catches(run.pid, signal.SIGTERM):
        assert time.monotonic() < deadline, "tp never caught SIGTERM"
        assert not wait_for_exit(run.pid, 0.001), "tp ended before its handlers were in place"
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=LIMIT)
    assert run.returncode == 130, err
    assert err == b"tp: error: interrupted\n"


# ---------------------------------------------------------------------------- tokenizers and chat templates


def tiny_folder(tmp_path, template: str):
    from tiny_chat import tokenizer

    folder = tmp_path / "tok"
    tokenizer(template).save_pretrained(folder)
    return folder


CHAT = {
    "messages": [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "<think>2 and 2</think>4"},
    ]
}


def test_a_tokenizer_folder_without_its_vocabulary_is_refused(tmp_path):
    from tiny_chat import INLINE

    folder = tiny_folder(tmp_path, INLINE)
    for name in os.listdir(folder):
        if name != "tokenizer_config.json":
            os.unlink(folder / name)
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({**CHAT, "response": "<think>a</think>b"}) + "\n")
    for command in (["parse", data, "--tokenizer", folder], ["mask", data, "-t", folder, "-o", tmp_path / "o.jsonl"]):
        assert_one_line_error(
            tp(*command, env={**os.environ, "HF_HUB_OFFLINE": "1"}),
            2,
            "cannot load tokenizer",
            "vocabulary did not load",
        )


@pytest.mark.parametrize(
    "template, words",
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "took longer than"),
        ("{{ 'x' * 10**10 }}", "needed more than"),
    ],
    ids=["nested-loops", "huge-string"],
)
def test_a_runaway_chat_template_is_stopped_with_a_clear_error(tmp_path, template, words):
    folder = tiny_folder(tmp_path, template + "{% for m in messages %}{{ m.content }}{% endfor %}")
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(CHAT) + "\n")
    # tp is started by a small launcher that reports tp's own peak memory: a child's peak counts from its
    # parent's size at fork, and pytest's grows with the tests run before this one.
    launcher = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
    )
    args = [*TP, "mask", data, "-t", folder, "-o", tmp_path / "out.jsonl"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", launcher, *map(str, args)], capture_output=True, timeout=LIMIT, env=env
    )
    assert_one_line_error(result, 2, words)
    assert int(result.stdout) < 3 << 20  # KB: under 3 GB, not 20
