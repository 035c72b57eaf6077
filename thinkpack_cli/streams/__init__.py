"""Streaming I/O used by every command: read, batch, fan out to workers, write, rename.

Inputs are JSON Lines (optionally ``.gz``/``.zst``) or Parquet, from paths or ``-``
(stdin). They are cut into blocks (a few MB of whole lines, or a Parquet row
batch). Worker processes decode a block, run a command's job on its records and
encode the result. The main process only coordinates: for a plain file it hands
out byte ranges that workers read themselves, and workers write their output
straight to the output file or stdout, each block in its turn, so no data
passes through the main process and every core does JSON work. Blocks stay in
input order with a bounded number in flight, so memory is flat whatever the
input size.

Every record is accounted for: it is written (or counted), or it is a
``RecordError`` that either stops the run naming file, line and reason
(``--on-error fail``) or is counted as skipped with its line
(``--on-error skip``). File outputs go to a temporary file in the same folder
and are renamed into place only when the run succeeds.

The package: ``sources`` (inputs into blocks), ``codec`` (JSON lines to records and back), ``workers``
(a job over one block, in a worker process), ``run`` (blocks through a job, accounted for), ``sinks``
(atomic outputs). What other modules use is named here.
"""

from .codec import Pieces, decode_block, dumps, encode_jsonl
from .run import (
    ON_ERROR,
    SHOWN_SKIPPED,
    InputLine,
    Summary,
    check_inputs,
    iter_records,
    run_job,
    write_job,
)
from .sinks import JsonlSink, ParquetPart, ParquetSink, Sink, open_sink, output_format, to_table
from .sources import BLOCK_BYTES, INPUT_FORMATS, PARQUET_ROWS, Block, Source
from .workers import BlockResult, Job, MapJob, Mapped, write_pieces

__all__ = [
    "BLOCK_BYTES",
    "INPUT_FORMATS",
    "InputLine",
    "ON_ERROR",
    "PARQUET_ROWS",
    "SHOWN_SKIPPED",
    "Block",
    "BlockResult",
    "Job",
    "JsonlSink",
    "MapJob",
    "Mapped",
    "ParquetPart",
    "ParquetSink",
    "Pieces",
    "Sink",
    "Source",
    "Summary",
    "check_inputs",
    "decode_block",
    "dumps",
    "encode_jsonl",
    "iter_records",
    "open_sink",
    "output_format",
    "run_job",
    "to_table",
    "write_job",
    "write_pieces",
]
