"""The batch functions (thinkpack_cli.batches) under the engines people map them with.

Each is checked against its own command on the same records: `datasets.map(batched=True,
num_proc=2)` and Ray Data on a local 2-CPU cluster must give what `tp parse`, `tp mask` and
`tp steer` write. The tokenizer is tiny_chat's, saved to a folder as a user's would be.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pyarrow as pa
import pytest
import tiny_chat

from thinkpack_cli.batches import grade_batch, mask_batch, parse_batch, steer_batch
from thinkpack_cli.errors import RecordError

TP = [sys.executable, "-m", "thinkpack_cli"]

OUTPUTS = [
    {"id": i, "response": text, "gold": gold}
    for i, (text, gold) in enumerate(
        [
            ("<think>2 and 2</think>The answer is $\\boxed{4}$", "4"),
            ("<think>3 and 3</think>$\\frac{12}{2}$", "6"),
            ("<think>never closed", "1"),
            ("no reasoning, 7", "8"),
        ]
        * 3
    )
]
CHATS = [
    {
        "id": i,
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": f"<think>{i} and {i}</think>{2 * i}"},
        ],
    }
    for i in range(12)
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tiny"
    tiny_chat.tokenizer(tiny_chat.INLINE).save_pretrained(path)
    return str(path)


def columns(rows: list[dict]) -> dict[str, list]:
    return {name: [row.get(name) for row in rows] for name in dict.fromkeys(k for row in rows for k in row)}


def rows_of(batch: dict[str, list]) -> list[dict]:
    return [dict(zip(batch, values)) for values in zip(*batch.values())]


def command(tmp_path, rows: list[dict], *args) -> list[dict]:
    """What the command itself writes for ``rows``."""
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = subprocess.run([*TP, *args, str(path), "-q"], capture_output=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


# ---------------------------------------------------------------------------- the functions themselves


def test_parse_batch_honours_the_tokenizer(folder):
    out = parse_batch(columns(OUTPUTS[:2]), tokenizer=folder)
    assert out["reasoning_tokens"][0] > 0 and out["answer_tokens"][0] > 0


def test_a_batch_is_never_changed(folder):
    for fn, rows, options in (
        (parse_batch, OUTPUTS, {}),
        (mask_batch, CHATS, {"tokenizer": folder}),
        (steer_batch, CHATS, {"tokenizer": folder, "prefix": "Let me think."}),
    ):
        batch = columns(rows)
        before = copy.deepcopy(batch)
        fn(batch, **options)
        assert batch == before, fn.__name__


def test_a_bad_row_fails_naming_it_or_is_skipped(folder):
    rows = [OUTPUTS[0], {"id": 99, "response": 5}, OUTPUTS[1]]
    with pytest.raises(RecordError, match="row 1 of the batch"):
        parse_batch(columns(rows))
    out = parse_batch(columns(rows), on_error="skip")
    assert out["id"] == [0, 1] and out["status"] == ["valid", "valid"]
    bad_chat = [CHATS[0], {"id": 99, "messages": "not a conversation"}]
    assert mask_batch(columns(bad_chat), tokenizer=folder, on_error="skip")["id"] == [0]
    with pytest.raises(RecordError, match="row 1 of the batch"):
        steer_batch(columns(bad_chat), tokenizer=folder)


def test_engines_batches_read_alike(folder):
    """datasets' dicts of lists, Arrow tables, pandas frames and Ray's dicts of numpy arrays."""
    import numpy as np

    plain = mask_batch(columns(CHATS), tokenizer=folder)
    table = pa.Table.from_pylist(CHATS)
    assert mask_batch(table, tokenizer=folder) == plain
    assert mask_batch(table.to_pandas(), tokenizer=folder) == plain
    as_numpy = {
        "id": np.array([r["id"] for r in CHATS]),
        "messages": np.array([np.array(r["messages"], dtype=object) for r in CHATS], dtype=object),
    }
    assert mask_batch(as_numpy, tokenizer=folder) == plain


def test_grade_batch_grades_parsed_rows():
    out = grade_batch(parse_batch(columns(OUTPUTS[:4])), workers=1)
    assert out["correct"] == [True, True, False, False]
    assert out["grade_status"][2] == "no_answer"
    with pytest.raises(RecordError, match="no 'answer' field"):
        grade_batch(columns(OUTPUTS[:1]), workers=1)


# ---------------------------------------------------------------------------- under datasets and Ray, against the CLI


@pytest.fixture(scope="module")
def expected(folder, tmp_path_factory):
    where = tmp_path_factory.mktemp("cli")
    return {
        "parse": command(where, OUTPUTS, "parse"),
        "mask": command(where, CHATS, "mask", "-t", folder, "--keep-fields"),
        "steer": command(where, CHATS, "steer", "-t", folder, "--prefix", "Let me think."),
    }


def calls(folder):
    return {
        "parse": (OUTPUTS, parse_batch, {}),
        "mask": (CHATS, mask_batch, {"tokenizer": folder}),
        "steer": (CHATS, steer_batch, {"tokenizer": folder, "prefix": "Let me think."}),
    }


@pytest.mark.parametrize("kind", ["parse", "mask", "steer"])
def test_datasets_map_with_two_processes_gives_what_the_command_writes(folder, expected, kind):
    import datasets

    rows, fn, options = calls(folder)[kind]
    ds = datasets.Dataset.from_list(rows).map(fn, batched=True, batch_size=5, num_proc=2, fn_kwargs=options)
    assert ds.to_list() == expected[kind]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray Data is in the test extra: pip install -e '.[test]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("kind", ["parse", "mask"])
def test_ray_read_json_map_batches_write_parquet_gives_what_the_command_writes(
    ray_cluster, folder, expected, tmp_path, kind
):
    import pyarrow.parquet as pq

    rows, fn, options = calls(folder)[kind]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ray_cluster.data.read_json(str(source)).map_batches(fn, fn_kwargs=options, batch_size=5).write_parquet(
        str(tmp_path / "out")
    )
    written = pq.read_table(tmp_path / "out").to_pylist()
    assert sorted(written, key=lambda r: r["id"]) == expected[kind]
