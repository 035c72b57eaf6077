"""The streaming layer, driven through `tp parse`: formats in and out, errors, atomic writes, workers."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from thinkpack_cli import streams
from thinkpack_cli.cli import app

RECORDS = [
    {"id": 1, "response": "<think>a</think>42", "meta": {"k": [1, 2.5, None]}, "z": True},
    {"id": 2, "response": "plain", "unicode": "héllo ✓ 漢字"},
    {"id": 3, "response": "<think>cut off"},
]


def write_jsonl(path, records, extra_lines=()):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return str(path)


def run(*args, input=None):
    return CliRunner().invoke(app, list(args), input=input)


def read_jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line]


def test_fields_pass_through_unchanged_and_in_order(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    result = run("parse", path)
    assert result.exit_code == 0, result.stderr
    out = read_jsonl(result.stdout)
    for before, after in zip(RECORDS, out):
        assert list(after)[: len(before)] == list(before)
        assert {k: after[k] for k in before} == before
        assert list(after)[len(before) :] == ["reasoning", "answer", "status", "reasoning_format", "reasoning_tag"]
    assert [r["status"] for r in out] == ["valid", "missing", "truncated"]


def test_blank_lines_are_not_records(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS, extra_lines=["", "   "])
    result = run("parse", path)
    assert result.exit_code == 0
    assert len(read_jsonl(result.stdout)) == 3
    assert "3 records read, 3 written, 0 skipped" in result.stderr


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"response": "x"', "malformed JSON"),
        ("[1, 2]", "not a JSON object (a list)"),
        ('"just a string"', "not a JSON object (a string)"),
        ('{"other": 1}', "no text field"),
        ('{"response": 7}', "field 'response' is a number, not a string"),
        ('{"response": null}', "field 'response' is null, not a string"),
    ],
    ids=["malformed", "list", "string", "no-text-field", "number", "null"],
)
def test_bad_record_fails_with_file_line_and_reason(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS, extra_lines=[line])
    result = run("parse", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"tp: error: {path}:4: {reason}")
    assert "Traceback" not in result.stderr


def test_invalid_utf8_is_reported(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"response": "ok"}\n{"response": "\xff\xfe"}\n')
    result = run("parse", str(path))
    assert result.exit_code == 2
    assert f"{path}:2: invalid UTF-8" in result.stderr


def test_skip_accounts_for_every_record(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS, extra_lines=["{oops", '{"response": 1}'])
    result = run("parse", path, "--on-error", "skip")
    assert result.exit_code == 0
    assert len(read_jsonl(result.stdout)) == 3
    assert "5 records read, 3 written, 2 skipped" in result.stderr
    assert f"skipped {path}:4: malformed JSON" in result.stderr
    assert f"skipped {path}:5: field 'response' is a number" in result.stderr


def test_json_array_gets_a_hint(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(RECORDS))
    result = run("parse", str(path))
    assert result.exit_code == 2
    assert "a JSON array, not JSON Lines" in result.stderr


def test_missing_file_is_one_line(tmp_path):
    result = run("parse", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == f"tp: error: {tmp_path / 'nope.jsonl'}: no such file\n"


def test_stdin_is_the_default_input():
    result = run("parse", input="".join(json.dumps(r) + "\n" for r in RECORDS))
    assert result.exit_code == 0
    assert [r["id"] for r in read_jsonl(result.stdout)] == [1, 2, 3]


def test_gzip_and_zstd_inputs(tmp_path):
    zstandard = pytest.importorskip("zstandard", reason="zstd input needs the zstandard package")
    text = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(text))
    zst = tmp_path / "in.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(text))
    for path in (gz, zst):
        result = run("parse", str(path))
        assert result.exit_code == 0, result.stderr
        assert [r["status"] for r in read_jsonl(result.stdout)] == ["valid", "missing", "truncated"]


def test_parquet_in_and_out(tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "response": r["response"]} for r in RECORDS]), source)
    out = tmp_path / "out.parquet"
    result = run("parse", str(source), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert table.column("status").to_pylist() == ["valid", "missing", "truncated"]
    assert table.column("id").to_pylist() == [1, 2, 3]
    # Parquet on stdin is recognised by its magic bytes.
    sniffed = subprocess.run(
        [sys.executable, "-m", "thinkpack_cli", "parse", "-q"],
        stdin=open(source, "rb"),
        capture_output=True,
        check=True,
    )
    assert [r["status"] for r in read_jsonl(sniffed.stdout.decode())] == ["valid", "missing", "truncated"]


def test_gzip_output(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out.jsonl.gz"
    assert run("parse", path, "-o", str(out)).exit_code == 0
    assert len(read_jsonl(gzip.decompress(out.read_bytes()).decode())) == 3


def test_failed_run_leaves_no_file(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS, extra_lines=["{broken"])
    out = tmp_path / "out.jsonl"
    result = run("parse", path, "-o", str(out))
    assert result.exit_code == 2
    assert os.listdir(tmp_path) == ["in.jsonl"]  # neither the output nor a temp file


def test_existing_output_survives_a_failed_run(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS, extra_lines=["{broken"])
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    assert run("parse", path, "-o", str(out)).exit_code == 2
    assert out.read_text() == "previous\n"


def test_unknown_output_extension_is_a_usage_error(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    result = run("parse", path, "-o", str(tmp_path / "out.txt"))
    assert result.exit_code == 2
    assert "cannot tell the output format" in result.stderr


def big_file(tmp_path, n_blocks=3):
    """A file of several blocks, so the run fans out to worker processes."""
    records, size, i = [], 0, 0
    while size < n_blocks * streams.BLOCK_BYTES:
        text = f"<think>{'step ' * (i % 500)}</think>answer {i}" if i % 7 else f"no tags {i}"
        records.append({"i": i, "response": text})
        size += len(text) + 30
        i += 1
    return write_jsonl(tmp_path / "big.jsonl", records), records


def test_workers_keep_input_order_and_match_one_process(tmp_path):
    path, records = big_file(tmp_path)
    parallel = run("parse", path, "--workers", "2")
    single = run("parse", path, "--workers", "1")
    assert parallel.exit_code == single.exit_code == 0
    assert parallel.stdout == single.stdout
    assert [r["i"] for r in read_jsonl(parallel.stdout)] == [r["i"] for r in records]


def test_bad_line_in_a_later_block_is_reported_with_its_line(tmp_path):
    path, records = big_file(tmp_path)
    with open(path, "a") as f:
        f.write("not json\n")
    result = run("parse", path, "--workers", "2")
    assert result.exit_code == 2
    assert f"{path}:{len(records) + 1}: malformed JSON" in result.stderr


def test_fields_pass_through_byte_for_byte(tmp_path):
    """Parse only appends its fields to the input line: numbers and escapes are kept as written."""
    line = '{"n": 1.0e2, "s": "caf\\u00e9", "response": "<think>a</think>b"}'
    path = tmp_path / "in.jsonl"
    path.write_text(line + "\n")
    out = run("parse", str(path)).stdout
    assert out.startswith('{"n": 1.0e2, "s": "caf\\u00e9", "response": "<think>a</think>b","reasoning":"a"')
    assert json.loads(out)["answer"] == "b"


@pytest.mark.parametrize(
    "line",
    [
        '{ "response": "<think>a</think>b" }',
        '{"response": "<think>a</think>b"}\r',
        '{"response":"<think>a</think>b"}   ',
    ],
    ids=["spaces-inside", "crlf", "trailing-spaces"],
)
def test_appending_to_odd_lines_gives_valid_json(tmp_path, line):
    path = tmp_path / "in.jsonl"
    path.write_bytes(line.encode() + b"\n")
    out = run("parse", str(path)).stdout
    assert json.loads(out) == {
        "response": "<think>a</think>b",
        "reasoning": "a",
        "answer": "b",
        "status": "valid",
        "reasoning_format": "think",
        "reasoning_tag": "<think>",
    }


def test_a_field_parse_owns_is_replaced_not_duplicated(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"answer": "gold 4", "response": "<think>a</think>4"}])
    out = run("parse", path).stdout
    assert out.count('"answer"') == 1
    assert json.loads(out)["answer"] == "4"


def test_parquet_keeps_fields_the_first_record_lacks(tmp_path):
    """Columns come from every record, not the first one's fields (as pa.Table.from_pylist would)."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"response": "<think>a</think>b"}, {"response": "x", "extra": 1}])
    out = tmp_path / "out.parquet"
    assert run("parse", path, "-o", str(out)).exit_code == 0
    assert pq.read_table(out).column("extra").to_pylist() == [None, 1]


def test_parquet_over_several_blocks_in_workers(tmp_path):
    path, records = big_file(tmp_path)
    out = tmp_path / "out.parquet"
    result = run("parse", path, "-o", str(out), "--workers", "2")
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert table.column("i").to_pylist() == [r["i"] for r in records]
    assert table.column("status").to_pylist()[:8] == ["missing"] + ["valid"] * 6 + ["missing"]


def test_parquet_schema_grows_with_later_blocks(tmp_path):
    """A first block whose answers carry no reasoning (null column) and a field first seen later:
    the file is rewritten under the wider schema and nothing is lost."""
    records = [{"i": i, "response": "plain answer " + "x" * 100} for i in range(20000)]
    records += [{"i": 20000 + i, "response": f"<think>r{i}</think>a", "late": [i]} for i in range(3)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.parquet"
    result = run("parse", path, "-o", str(out), "--workers", "1")
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert table.num_rows == 20003
    assert table.column("reasoning").to_pylist()[-3:] == ["r0", "r1", "r2"]
    assert table.column("reasoning").null_count == 20000
    assert table.column("late").to_pylist()[-4:] == [None, [0], [1], [2]]
    assert os.listdir(tmp_path) == ["in.jsonl", "out.parquet"]  # no temp file left behind


@pytest.mark.parametrize("first", [1, 20000], ids=["same-block", "later-block"])
def test_parquet_field_changing_type_is_an_error(tmp_path, first):
    records = [{"response": "x" * 100, "v": 1}] * first + [{"response": "y", "v": {"a": 1}}]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    result = run("parse", path, "-o", str(tmp_path / "out.parquet"), "--workers", "1")
    assert result.exit_code == 2
    assert "changes type between records" in result.stderr and "write JSONL instead" in result.stderr
    assert os.listdir(tmp_path) == ["in.jsonl"]


def varied_records(n):
    """Records of every JSON kind, texts with and without reasoning, over several blocks."""
    out = []
    for i in range(n):
        text = f"<think>step {'é漢 ' * (i % 300)}</think>answer {i} ✓" if i % 5 else f"plain {i} 😀"
        out.append(
            {
                "id": f"r{i}",
                "n": i,
                "x": i / 7,
                "ok": bool(i % 2),
                "meta": {"k": [i, i + 0.5], "name": f"m{i % 3}"},
                "tags": [f"t{i % 4}"] * (i % 3),
                "response": text,
                "note": None if i % 11 else "eleven",
            }
        )
    return out


@pytest.mark.parametrize("widened", [False, True], ids=["spliced", "widened"])
def test_parquet_reads_back_equal_to_the_jsonl_output(tmp_path, widened):
    """Blocks encoded by the workers and joined under one footer: the same records as the JSONL
    output, over many row groups; also when a late block widens the schema (all encoded again)."""
    records = varied_records(12000)
    if widened:
        records += [{**r, "late": {"deep": [1]}} for r in varied_records(5)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    jsonl = run("parse", path, "--workers", "2")
    assert jsonl.exit_code == 0, jsonl.stderr
    expected = read_jsonl(jsonl.stdout)
    for workers in ("2", "1"):
        out = tmp_path / f"out{workers}.parquet"
        result = run("parse", path, "-o", str(out), "--workers", workers)
        assert result.exit_code == 0, result.stderr
        parquet = pq.ParquetFile(out)
        assert parquet.metadata.num_rows == len(records)
        assert widened or parquet.metadata.num_row_groups > 3  # one per block
        rows = parquet.read().to_pylist()
        assert rows == [{name: r.get(name) for name in rows[0]} for r in expected]
        assert list(rows[0]) == list(expected[0]) + ["late"] * widened  # the records' field order; a late one last
        # Each row group reads on its own, at the offsets the joined footer gives it.
        assert sum(parquet.read_row_group(i).num_rows for i in range(parquet.num_row_groups)) == len(records)


def test_workers_send_blocks_encoded_as_parquet(tmp_path):
    """The main process copies the workers' Parquet bytes; it does not build or encode tables."""
    from thinkpack_cli.parse import ParseOptions, Parser

    block = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in varied_records(50)).encode()
    rows = streams.decode_block(streams.Block("in", block, len(block)))[0]
    result = streams.MapJob(Parser(ParseOptions()), "parquet").run(rows)
    assert isinstance(result.payload, streams.ParquetPart) and result.produced == 50
    table = pq.read_table(pa.BufferReader(result.payload.data))
    assert table.schema == result.payload.schema
    assert table.column("id").to_pylist() == [f"r{i}" for i in range(50)]


def test_parquet_footer_codec_keeps_what_it_does_not_change():
    """The footer of a file pyarrow wrote (statistics, dictionary pages, nested columns, the Arrow
    schema) decodes and encodes back to the same bytes; moved, its offsets still find every page."""
    from thinkpack_cli.streams import footer

    table = pa.table({"a": [1, None, 3], "s": ["x", "héllo", None], "l": [[1.5], [], None], "m": [{"k": 1}] * 3})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    chunks, fields = footer.split(data)
    assert footer.joined(fields, footer.field(fields, 4)[1]) == data[len(footer.MAGIC) + len(chunks) :]
    padded = footer.MAGIC + b"\0" * 1000 + chunks
    groups = footer.moved_row_groups(fields, 1000, 0)
    moved = pq.read_table(pa.BufferReader(padded + footer.joined(fields, groups)))
    assert moved.to_pylist() == table.to_pylist()
