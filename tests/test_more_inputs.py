"""Inputs beyond local JSONL and Parquet: datasets save_to_disk folders, Arrow IPC files, fsspec URLs.
Each must give exactly the numbers the same records give as JSONL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from thinkpack_cli.cli import app

RECORDS = [
    {"id": f"q{i}", "response": f"<think>t{i}</think>\\boxed{{{i % 3}}}" if i % 4 else "<think>cut", "gold": str(i % 2)}
    for i in range(40)
]


def stats(*args):
    result = CliRunner().invoke(app, ["stats", *map(str, args), "--grader", "exact", "--json", "-q"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def expected(tmp_path):
    path = tmp_path / "same.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return stats(path)


def test_datasets_save_to_disk_folder(tmp_path, expected):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(RECORDS).save_to_disk(str(folder), num_shards=2)
    assert stats(folder) == expected


def test_a_saved_dataset_dict_names_its_splits(tmp_path, expected):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "dd"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(RECORDS)}).save_to_disk(str(folder))
    result = CliRunner().invoke(app, ["stats", str(folder)])
    assert result.exit_code == 2 and "name one split" in result.output and "dd/test" in result.output
    assert stats(folder / "test") == expected


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_arrow_ipc_files(tmp_path, expected, kind):
    import pyarrow as pa

    table = pa.Table.from_pylist(RECORDS)
    path = tmp_path / f"data.{'arrow' if kind == 'file' else 'ipc'}"
    with pa.OSFile(str(path), "wb") as sink:
        writer = (pa.ipc.new_file if kind == "file" else pa.ipc.new_stream)(sink, table.schema)
        writer.write_table(table, max_chunksize=7)
        writer.close()
    assert stats(path) == expected


def test_a_folder_that_is_no_saved_dataset_is_an_input_error(tmp_path):
    result = CliRunner().invoke(app, ["stats", str(tmp_path)])
    assert result.exit_code == 2 and "state.json" in result.output


@pytest.mark.parametrize("name", ["runs/out.jsonl", "runs/out.parquet"])
def test_fsspec_urls(tmp_path, expected, name):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with fs.open(name, "wb") as f:
            pq.write_table(pa.Table.from_pylist(RECORDS), f)
    else:
        with fs.open(name, "wb") as f:
            f.write("".join(json.dumps(r) + "\n" for r in RECORDS).encode())
    try:
        assert stats(f"memory://{name}") == expected
        missing = CliRunner().invoke(app, ["stats", "memory://runs/nothing.jsonl"])
        assert missing.exit_code == 2 and "no such file" in missing.output
    finally:
        fs.rm(name)
