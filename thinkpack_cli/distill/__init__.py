"""``tp distill``: reasoning traces from a teacher behind an OpenAI-compatible API, nothing lost, nothing twice.

A run goes in three steps:

1. Resume. The output (and the errors file) of earlier runs say which records are
   finished: every output line carries its record's key (``--id`` or a hash of the
   record) in a ``distill`` field. A line torn by a kill is cut off first.
2. Plan. Every input record is read, keyed and its prompt rendered before a single
   request is paid for, so a bad record stops the run at once and the total is known.
3. Ask. ``concurrency`` workers share one keep-alive connection pool; each takes the
   next record, draws up to ``n`` samples from the teacher (retrying what the network
   or an overloaded server broke), judges them and appends the record's lines to the
   output with one write the moment it is finished: a kill loses only what is in flight.

A record ends done (lines in the output), rejected (the teacher answered, but with
no usable trace: cut off, unclosed, wrong) or failed (no answer after the retries);
rejected and failed ones go to the errors file with the reason. A rerun retries the
failed ones and skips the rest.

The package, one step each: ``options``, ``prompts``, ``ledger`` (resume and output), ``teacher`` (the
HTTP client), ``judge``, ``run`` (plan and ask), ``summary``. What other modules use is named here.
"""

from .ledger import Ledger, errors_path
from .options import DistillOptions
from .run import Progress, run
from .summary import Counts, summary_lines
from .teacher import Teacher

__all__ = ["Counts", "DistillOptions", "Ledger", "Progress", "Teacher", "errors_path", "run", "summary_lines"]
