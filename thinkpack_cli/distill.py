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
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from importlib import resources
from typing import Any

import orjson

from . import console, streams
from .errors import InputError, RecordError, UsageError
from .formats import EMPTY, MISSING, TRUNCATED
from .grading import GRADERS
from .records import INSTRUCTION_FIELDS

MODES = ("construct", "solve", "feedback")
KEEP = ("first", "correct", "all")
QUESTION_FIELDS = ("question", "problem", *(f for f in INSTRUCTION_FIELDS if f != "question"))
GOLD_FIELDS = ("gold", "reference", "answer", "response", "output")
# The fields each mode adds to a record; a record's gold answer is never read from one of them.
WRITES = {
    "construct": ("reasoning",),
    "solve": ("reasoning", "response", "correct"),
    "feedback": ("reasoning", "feedback", "guided_solution"),
}
META = "distill"  # the output field with the record's key and the sample's provenance
MAX_BACKOFF = 60.0
MAX_RESPONSE_BYTES = 64 << 20  # a longer body is a misbehaving server, not an answer: it is not read on
GRADE_TIMEOUT = 5.0
# The status codes that say the run itself is misconfigured: every record would get the same.
REFUSALS = {401: "the API key was refused", 403: "the API key was refused", 404: "no such model or endpoint"}
_FEEDBACK = re.compile(r"<feedback>(.*?)</feedback>", re.DOTALL | re.IGNORECASE)
_SOLUTION = re.compile(r"<solution>(.*?)</solution>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class DistillOptions:
    base_url: str
    model: str
    mode: str = "construct"
    n: int = 1  # samples drawn per record, at most
    keep: str = "correct"  # solve: first correct sample, every correct one, or all (marked)
    concurrency: int = 32
    max_retries: int = 6
    timeout: float = 120.0
    backoff: float = 1.0  # seconds before the first retry; doubles with each
    temperature: float | None = None
    max_tokens: int | None = None
    template: str | None = None  # a Jinja file; None: the mode's own
    id_field: str | None = None  # None: records are keyed by a hash of their content
    question_field: str | None = None
    gold_field: str | None = None
    grader: str = "math"
    retry_rejected: bool = False
    max_retry_wait: float = 60.0  # the longest wait a Retry-After header gets
    max_response_bytes: int = MAX_RESPONSE_BYTES


def check_options(options: DistillOptions) -> None:
    for name, value, allowed in (("--mode", options.mode, MODES), ("--keep", options.keep, KEEP),
                                 ("--grader", options.grader, GRADERS)):
        if value not in allowed:
            raise UsageError(f"{name} must be one of {', '.join(allowed)}")
    if options.keep != "correct" and options.mode != "solve":
        raise UsageError("--keep applies to --mode solve, which grades answers")
    if options.gold_field in WRITES[options.mode]:
        raise UsageError(f"--gold {options.gold_field}: --mode {options.mode} writes that field")
    if not options.base_url.startswith(("http://", "https://")):
        raise UsageError("--base-url must start with http:// or https://, e.g. http://localhost:8000/v1")


@dataclass
class Tally:
    """What became of every input record: ``read`` = done + rejected + failed +
    finished_before + duplicates + unreadable (+ ``left`` when a run is interrupted)."""

    read: int = 0
    done: int = 0
    rejected: int = 0
    failed: int = 0
    finished_before: int = 0  # done or rejected by an earlier run on the same output
    duplicates: int = 0  # the key of a record earlier in the inputs
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)  # skipped with --on-error skip
    todo: int = 0  # records this run sends to the teacher
    lines: int = 0  # output lines written: one per kept sample
    retries: int = 0
    capped_waits: int = 0  # Retry-After waits cut to --max-retry-wait
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # spent asking

    @property
    def left(self) -> int:
        return self.todo - self.done - self.rejected - self.failed

    def cost(self, price_in: float | None, price_out: float | None) -> float | None:
        """Dollars at these prices per million tokens, or None without prices."""
        if price_in is None and price_out is None:
            return None
        return (self.prompt_tokens * (price_in or 0) + self.completion_tokens * (price_out or 0)) / 1e6


# ---------------------------------------------------------------------------- prompts


class Prompter:
    """Renders a mode's Jinja template for a record into the message sent to the teacher.

    The template sees ``record`` and, when it uses them, ``question`` (the first of
    QUESTION_FIELDS), ``answer`` (the gold answer) and ``attempt`` (feedback mode).
    """

    def __init__(self, options: DistillOptions):
        import jinja2
        import jinja2.meta

        name = options.template or f"{options.mode}.jinja (built in)"
        if options.template is None:
            source = resources.files(__package__).joinpath("prompts", f"{options.mode}.jinja").read_text("utf-8")
        else:
            try:
                with open(options.template, encoding="utf-8") as f:
                    source = f.read()
            except OSError as e:
                raise UsageError(f"cannot read --prompt-template {options.template}: {e.strerror or e}") from None
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            self.template = env.from_string(source)
            self.uses = jinja2.meta.find_undeclared_variables(env.parse(source))
        except jinja2.TemplateSyntaxError as e:
            raise UsageError(f"{name}:{e.lineno}: {e.message}") from None
        self.options = options
        self._error = jinja2.TemplateError
        self.gold_fields = (options.gold_field,) if options.gold_field else tuple(
            f for f in GOLD_FIELDS if f not in WRITES[options.mode])

    def __call__(self, record: dict) -> tuple[str, Any]:
        """The prompt for ``record`` and its gold answer (None when neither needs one)."""
        values: dict[str, Any] = {"record": record}
        if "question" in self.uses:
            fields = (self.options.question_field,) if self.options.question_field else QUESTION_FIELDS
            values["question"] = _text(*_first(record, fields, "question", "--question-field"))
        gold = None
        if "answer" in self.uses or self.options.mode == "solve":
            gold = values["answer"] = _first(record, self.gold_fields, "gold answer", "--gold")[1]
        if "attempt" in self.uses:
            values["attempt"] = _text(*_first(record, ("attempt",), "student attempt", None))
        try:
            prompt = self.template.render(values)
        except self._error as e:
            raise RecordError(f"prompt template: {e}") from None
        if not prompt.strip():
            raise RecordError("the prompt template rendered nothing for this record")
        return prompt, gold


def _first(record: dict, names: tuple[str, ...], what: str, option: str | None) -> tuple[str, Any]:
    """The first of ``names`` the record has, and its value."""
    for name in names:
        if record.get(name) is not None:
            return name, record[name]
    hint = f" (name it with {option})" if option else ""
    raise RecordError(f"no {what} field: looked for {', '.join(names)}{hint}")


def _text(name: str, value: Any) -> str:
    """A field sent to the teacher as text: a list or a number would be sent, and paid for, as its Python repr."""
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is {type(value).__name__}, not text: nothing to ask the teacher")
    if not value.strip():
        raise RecordError(f"field {name!r} is empty: nothing to ask the teacher")
    return value


def record_key(record: dict, id_field: str | None) -> str:
    """``id:FIELD:VALUE`` with ``--id``, else ``hash:HEX`` of the record's content (field order aside)."""
    if id_field is None:
        content = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)
        return "hash:" + hashlib.blake2b(content, digest_size=16).hexdigest()
    value = record.get(id_field)
    if value is None:
        raise RecordError(f"no id field {id_field!r}")
    return f"id:{id_field}:" + orjson.dumps(value, default=str).decode()


# ---------------------------------------------------------------------------- resume and output


class Ledger:
    """The output and errors files: what earlier runs finished, and where this run appends.

    Output lines are whole records (one per kept sample) written with one ``write`` per
    record, so a kill leaves at most one torn record at the end, which is cut off here.
    The errors file holds an entry per rejected or failed record; the last for a key wins.
    """

    def __init__(self, output: str, errors: str | None, key_kind: str):
        if not output.lower().endswith((".jsonl", ".ndjson")):
            raise UsageError("tp distill appends to a plain JSON Lines file: name the output .jsonl "
                             "(convert it to Parquet or compress it when the run is done)")
        self.output = output
        self.errors = errors or errors_path(output)
        self.key_kind = key_kind
        try:
            self._out = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
        self._err: int | None = None
        try:
            _lock(self._out, output)
            self.done = self._load_output()
            self.entries = self._load_errors()  # key -> its latest errors-file entry
        except BaseException:
            os.close(self._out)
            raise

    def finished(self, key: str, retry_rejected: bool) -> bool:
        entry = self.entries.get(key)
        return key in self.done or (not retry_rejected and entry is not None and entry["outcome"] == "rejected")

    def write(self, key: str, lines: bytes) -> None:
        streams.write_pieces(self._out, [lines])
        self.done.add(key)

    def error(self, key: str, source: str, line: int, outcome: str, reason: str, record: dict) -> None:
        entry = {"key": key, "source": source, "line": line, "outcome": outcome, "reason": reason, "record": record}
        if self._err is None:
            self._err = os.open(self.errors, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        streams.write_pieces(self._err, [streams.encode_jsonl([entry])])
        self.entries[key] = entry

    def close(self) -> None:
        """Rewrites the errors file with one entry per record still not done (none: no file)."""
        os.close(self._out)
        if self._err is not None:
            os.close(self._err)
        if not os.path.exists(self.errors):
            return
        entries = [e for key, e in self.entries.items() if key not in self.done]
        if not entries:
            os.unlink(self.errors)
            return
        temp = f"{self.errors}.tmp"
        with open(temp, "wb") as f:
            f.write(streams.encode_jsonl(entries))
        os.replace(temp, self.errors)

    def _load_output(self) -> set[str]:
        done: set[str] = set()
        seen: Counter = Counter()
        group_start = end = 0  # the offset where the last record's lines begin, and where they end
        with open(self.output, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break  # torn by a kill mid-write
                try:
                    meta = orjson.loads(line)[META]
                    key, kept = meta["key"], meta["kept"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise UsageError(f"{self.output}:{number}: not a line tp distill wrote (no {META}.key); "
                                     "name a new output file") from None
                self._check_kind(key, self.output, number)
                if seen[key] == 0:
                    group_start = end
                seen[key] += 1
                end += len(line)
                if seen[key] == kept:
                    done.add(key)
        # Lines after the last whole record are a record torn by a kill: cut them off.
        whole = end if not seen or seen[key] >= kept else group_start
        if os.path.getsize(self.output) != whole:
            os.ftruncate(self._out, whole)
        return done

    def _load_errors(self) -> dict[str, dict]:
        entries: dict[str, dict] = {}
        if not os.path.exists(self.errors):
            return entries
        end = 0
        with open(self.errors, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    os.truncate(self.errors, end)  # torn by a kill: its record counts as not yet tried
                    break
                end += len(line)
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    entry = None
                if not (isinstance(entry, dict) and isinstance(entry.get("key"), str)
                        and entry.get("outcome") in ("rejected", "failed")):
                    raise UsageError(f"{self.errors}:{number}: not an entry tp distill wrote; "
                                     "name another file with --errors")
                self._check_kind(entry["key"], self.errors, number)
                entries[entry["key"]] = entry
        return entries

    def _check_kind(self, key: str, path: str, number: int) -> None:
        if not key.startswith(self.key_kind + ":"):
            raise UsageError(f"{path}:{number}: its records are keyed {_keyed(key)}, this run's {_keyed(self.key_kind)}; "
                             "rerun with the --id the first run had")


def _keyed(key: str) -> str:
    return "by content (no --id)" if key.startswith("hash") else f"by --id {key.split(':')[1]}"


def check_paths(inputs: list[str], output: str, errors: str) -> None:
    """Two outputs in one file would overwrite the paid traces with error entries; an output that is
    also an input would be read while it grows."""
    if _same_file(output, errors):
        raise UsageError(f"-o {output} and --errors {errors} are the same file: the error entries would "
                         "overwrite the traces; name two files")
    for path in inputs or ["-"]:
        for name, out in (("-o", output), ("--errors", errors)):
            if _same_file(path, out):
                shown = "stdin" if path == "-" else f"input {path}"
                raise UsageError(f"{shown} is also the output ({name} {out}): write the results to another file")


def _same_file(a: str, b: str) -> bool:
    """Whether two paths (``-``: stdin) name one file: by device and inode when both exist, else by resolved path."""
    try:
        left = os.fstat(0) if a == "-" else os.stat(a)
        right = os.stat(b)
        return (left.st_dev, left.st_ino) == (right.st_dev, right.st_ino)
    except OSError:
        return a != "-" and os.path.realpath(a) == os.path.realpath(b)


def errors_path(output: str) -> str:
    stem, _ = os.path.splitext(output)
    return f"{stem}.errors.jsonl"


def _lock(fd: int, path: str) -> None:
    """Two runs appending to one output would both ask for the same records."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"another tp distill is writing {path}") from None


# ---------------------------------------------------------------------------- planning


@dataclass(slots=True)
class Job:
    source: str
    line: int
    key: str
    raw: bytes  # the record as JSON: compact in memory, decoded again when its answer comes
    prompt: str
    gold: Any


def plan(paths: list[str], prompter: Prompter, ledger: Ledger, tally: Tally, options: DistillOptions,
         on_error: str, input_format: str | None) -> list[Job]:
    """The records still to ask for, each keyed and its prompt rendered; counts the rest in ``tally``."""
    jobs: list[Job] = []
    keys: set[str] = set()
    for item in streams.iter_records(paths, on_error=on_error, input_format=input_format):
        tally.read += 1
        problem = item.error
        if problem is None:
            try:
                key = record_key(item.record, options.id_field)
                if key in keys:
                    tally.duplicates += 1
                elif ledger.finished(key, options.retry_rejected):
                    tally.finished_before += 1
                else:
                    prompt, gold = prompter(item.record)
                    raw = item.raw if item.raw is not None else streams.encode_jsonl([item.record])
                    jobs.append(Job(item.source, item.line, key, raw, prompt, gold))
                keys.add(key)
            except RecordError as e:
                problem = str(e)
        if problem is not None:
            if on_error == "fail":
                raise InputError(item.source, item.line, problem)
            tally.unreadable.append((item.source, item.line, problem))
    tally.todo = len(jobs)
    return jobs


# ---------------------------------------------------------------------------- the teacher


@dataclass(slots=True)
class Completion:
    content: str
    reasoning: str | None  # what the server split off itself (reasoning_content / reasoning)
    finish: str | None
    prompt_tokens: int | None  # None: the server's count was no count
    completion_tokens: int | None


class Failed(Exception):
    """A request that got no usable answer after its retries, or one not worth retrying."""


class Teacher:
    """Chat completions over one aiohttp session: keep-alive connections, at most
    ``concurrency`` open, retries with exponential backoff and jitter.

    The API key lives only in the session's headers. Whatever the server sends (a body,
    an answer, a header) has the key blanked out as it arrives, before it is parsed, cut
    or repeated; redirects are not followed (they would carry the key elsewhere).
    """

    def __init__(self, options: DistillOptions, api_key: str | None, tally: Tally):
        base = options.base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.options = options
        self.tally = tally
        self._key = api_key
        self._key_bytes = api_key.encode() if api_key else None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._random = random.Random()

    async def __aenter__(self) -> Teacher:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.options.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            headers=self._headers,
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._session.close()

    def body(self, prompt: str) -> bytes:
        body: dict[str, Any] = {"model": self.options.model, "messages": [{"role": "user", "content": prompt}]}
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            body["max_tokens"] = self.options.max_tokens
        return orjson.dumps(body)

    async def complete(self, prompt: str) -> Completion:
        body = self.body(prompt)
        aiohttp = self._aiohttp
        attempt = 0
        while True:
            wait = None
            try:
                async with self._session.post(self.url, data=body, allow_redirects=False) as response:
                    status, headers = response.status, response.headers
                    data = self.redact_bytes(await self._read(response))
            except asyncio.TimeoutError:
                reason = f"no answer within {self.options.timeout:g} s"
            except aiohttp.ClientError as e:
                reason = self.redact(f"connection failed ({type(e).__name__}{': ' + str(e) if str(e) else ''})")
            except TooLarge as e:
                reason = str(e)
            else:
                if status == 200:
                    try:
                        return _completion(data, self.redact)
                    except ValueError as e:
                        reason = f"malformed response: {e}"
                else:
                    reason = f"HTTP {status}: {_server_message(data)}"
                    if 300 <= status < 400:
                        location = self.redact(headers.get("Location", "?"))
                        raise UsageError(f"{self.url} redirects to {location}; tp sends the key "
                                         "only to --base-url: give the final address there")
                    if status in REFUSALS:
                        raise UsageError(f"{self.url}: {REFUSALS[status]} ({reason})")
                    if status != 429 and status < 500:
                        raise Failed(reason)
                    wait = _retry_after(headers)
            if attempt == self.options.max_retries:
                raise Failed(reason if attempt == 0 else f"{reason} (after {attempt + 1} tries)")
            attempt += 1
            self.tally.retries += 1
            await asyncio.sleep(self.delay(attempt, wait))

    async def _read(self, response) -> bytes:
        """The body, read no further than ``max_response_bytes``."""
        cap = self.options.max_response_bytes
        if (response.content_length or 0) > cap:
            raise TooLarge(f"response of {response.content_length:,} bytes, over the {cap:,} read")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > cap:
                raise TooLarge(f"response over the {cap:,} bytes read")
            chunks.append(chunk)
        return b"".join(chunks)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 1``: doubling from ``--backoff``, half of it random so
        that workers turned away together do not come back together; at least Retry-After,
        up to ``--max-retry-wait`` (said once on stderr, and in the progress line)."""
        ceiling = min(MAX_BACKOFF, self.options.backoff * 2 ** (attempt - 1))
        jitter = self._random.uniform(0, ceiling / 2)
        if retry_after is None:
            return ceiling / 2 + jitter
        cap = self.options.max_retry_wait
        if retry_after > cap:
            if not self.tally.capped_waits:
                console.say(f"tp distill: the server asks to wait {retry_after:g} s before retrying (Retry-After); "
                            f"waiting {cap:g} s at most (--max-retry-wait)")
            self.tally.capped_waits += 1
            return cap
        return retry_after + min(jitter, cap - retry_after)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[API key]") if self._key else text

    def redact_bytes(self, data: bytes) -> bytes:
        return data.replace(self._key_bytes, b"[API key]") if self._key_bytes else data


class TooLarge(Exception):
    """A response body over ``max_response_bytes``."""


def _token_count(value: Any) -> int | None:
    """A usage count as a server should send it: a whole number a JSON line can hold; None otherwise
    (1e30, -5, "many": the record is kept, the count is unknown)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (0 <= value < 2**53) or value != int(value):
        return None
    return int(value)


def _completion(data: bytes, redact=lambda text: text) -> Completion:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ValueError(f"not JSON ({len(data)} bytes)") from None
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        # vLLM now says "reasoning" and may send a null "reasoning_content" beside it.
        reasoning = next((message[k] for k in ("reasoning_content", "reasoning") if message.get(k) is not None), None)
        if not isinstance(content, str) or not isinstance(reasoning, (str, type(None))):
            raise TypeError
        usage = body.get("usage") or {}
        # The body's bytes were redacted; an escaped key (\u0073k-…) is only whole once decoded.
        return Completion(redact(content), None if reasoning is None else redact(reasoning), choice.get("finish_reason"),
                          _token_count(usage.get("prompt_tokens") or 0), _token_count(usage.get("completion_tokens") or 0))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise ValueError("no choices[0].message with text content") from None


def _server_message(data: bytes) -> str:
    try:
        message = orjson.loads(data)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = data[:200].decode("utf-8", "replace")
    return " ".join(str(message).split()) or "no message"


def _retry_after(headers) -> float | None:
    """The wait a 429 or 503 asks for: ``retry-after-ms`` (OpenAI), else ``Retry-After`` in seconds or as a date."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        pass  # unreadable: back off as usual
    return None


# ---------------------------------------------------------------------------- judging


@dataclass(slots=True)
class Sample:
    """One usable answer: the fields its mode adds to the record."""

    fields: dict[str, Any]
    completion: Completion
    index: int


def judge(completion: Completion, mode: str, parser, index: int) -> Sample | str:
    """The sample, or why it is no trace (the reason a rejected record gives)."""
    if completion.finish == "length":
        return "cut off at the token limit (finish_reason length)"
    text: dict[str, Any] = {"content": completion.content}
    if completion.reasoning is not None:
        text["reasoning_content"] = completion.reasoning
    split = parser.split_record(text)
    if split.status == TRUNCATED:
        return "the reasoning block never closes"
    if mode == "feedback":
        feedback, solution = _FEEDBACK.search(split.answer), _SOLUTION.search(split.answer)
        for match, tag in ((feedback, "feedback"), (solution, "solution")):
            if match is None or not match[1].strip():
                return f"no <{tag}>…</{tag}> in the response"
        fields = {"reasoning": split.reasoning or None,  # a guided solution needs no trace of its own
                  "feedback": feedback[1].strip(), "guided_solution": solution[1].strip()}
        return Sample(fields, completion, index)
    if split.status == MISSING:
        return "no reasoning in the response"
    if split.status == EMPTY:
        return "empty reasoning"
    if mode == "solve":
        if not split.answer:
            return "no answer after the reasoning"
        return Sample({"reasoning": split.reasoning, "response": split.answer}, completion, index)
    return Sample({"reasoning": split.reasoning}, completion, index)


def _rejection(reasons: list[str]) -> str:
    counts = Counter(reasons)
    if len(reasons) == 1:
        return reasons[0]
    return f"no usable sample in {len(reasons)}: " + "; ".join(f"{n}× {reason}" for reason, n in counts.items())


# ---------------------------------------------------------------------------- running


class Progress:
    """done / failed / rate / ETA / tokens on stderr: a bar at a terminal, else a line a minute."""

    INTERVAL = 60.0

    def __init__(self, tally: Tally, show: bool):
        self.tally = tally
        self.show = show
        self._bar = None
        self.started = self._last = time.monotonic()

    def __enter__(self) -> Progress:
        if self.show and console.interactive():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self._bar = Bar(TextColumn("distill"), BarColumn(bar_width=20), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.fields[status]}"), console=console.stderr(), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("distill", total=self.tally.todo, status="")
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)

    def update(self) -> None:
        t = self.tally
        if self._bar is not None:
            self._bar.update(self._task, completed=t.done + t.rejected + t.failed, status=self.status())
        elif self.show and time.monotonic() - self._last >= self.INTERVAL:
            self._last = time.monotonic()
            console.say(f"tp distill: {t.done + t.rejected + t.failed}/{t.todo} · {self.status()}")

    def status(self) -> str:
        t = self.tally
        rate = (t.done + t.rejected + t.failed) / max(time.monotonic() - self.started, 1e-9)
        capped = f" · {t.capped_waits} Retry-After waits cut to --max-retry-wait" if t.capped_waits else ""
        return (f"{t.done} done · {t.rejected} rejected · {t.failed} failed · {rate:.1f}/s · "
                f"tokens {_short(t.prompt_tokens)} in + {_short(t.completion_tokens)} out{capped}")


def _short(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


class Distiller:
    """Asks the teacher for every job, judges, grades and writes."""

    def __init__(self, options: DistillOptions, teacher: Teacher, ledger: Ledger, tally: Tally, progress: Progress):
        from .parse import ParseOptions, Parser

        self.options, self.teacher, self.ledger, self.tally, self.progress = options, teacher, ledger, tally, progress
        self.parser = Parser(ParseOptions())
        self.grader = None
        if options.mode == "solve":
            from concurrent.futures import ThreadPoolExecutor

            from .grading import Grader

            self.grader = Grader(options.grader, GRADE_TIMEOUT, workers=1)
            if options.grader == "math":
                # Start the grading process now: forking once the event loop runs would copy a busy process.
                self.grader.grade([("0", "1")])
            self._grading = ThreadPoolExecutor(1)  # one grader, one caller at a time

    async def run(self, jobs: list[Job]) -> None:
        queue = iter(jobs)  # shared: each worker takes the next job when it is free

        async def worker():
            for job in queue:
                await self.distill(job)
                self.progress.update()

        started = time.monotonic()
        tasks = [asyncio.ensure_future(worker()) for _ in range(min(self.options.concurrency, len(jobs)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.tally.seconds = time.monotonic() - started

    def close(self) -> None:
        if self.grader is not None:
            self._grading.shutdown()
            self.grader.close()

    async def distill(self, job: Job) -> None:
        options, tally = self.options, self.tally
        kept: list[Sample] = []
        reasons: list[str] = []
        try:
            for index in range(options.n):
                completion = await self.teacher.complete(job.prompt)
                tally.prompt_tokens += completion.prompt_tokens or 0
                tally.completion_tokens += completion.completion_tokens or 0
                sample = judge(completion, options.mode, self.parser, index)
                if isinstance(sample, str):
                    reasons.append(sample)
                    continue
                if options.mode == "solve":
                    sample.fields["correct"] = correct = await self.grade(sample.fields["response"], job.gold)
                    if not correct:
                        reasons.append("wrong answer")
                        if options.keep != "all":
                            continue
                kept.append(sample)
                if options.mode != "solve" or options.keep == "first":
                    break
        except Failed as e:
            tally.failed += 1
            self.ledger.error(job.key, job.source, job.line, "failed", str(e), orjson.loads(job.raw))
            return
        record = orjson.loads(job.raw)
        if not kept:
            tally.rejected += 1
            self.ledger.error(job.key, job.source, job.line, "rejected", _rejection(reasons), record)
            return
        lines = []
        for sample in kept:
            c = sample.completion
            meta = {"key": job.key, "model": options.model, "sample": sample.index, "kept": len(kept),
                    "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
            lines.append({**record, **sample.fields, META: meta})
        self.ledger.write(job.key, streams.encode_jsonl(lines))
        tally.done += 1
        tally.lines += len(kept)

    async def grade(self, answer: str, gold: Any) -> bool:
        loop = asyncio.get_running_loop()
        verdicts = await loop.run_in_executor(self._grading, self.grader.grade, [(answer, gold)])
        return verdicts[0]


def run(paths: list[str], options: DistillOptions, output: str, tally: Tally, *, api_key: str | None = None,
        errors: str | None = None, on_error: str = "fail", input_format: str | None = None,
        show_progress: bool = True) -> None:
    """Distill every record of ``paths`` not yet finished in ``output``; counts go to ``tally``
    (the caller's, so it is there to report when a run is interrupted)."""
    check_options(options)
    check_paths(paths, output, errors or errors_path(output))
    prompter = Prompter(options)
    ledger = Ledger(output, errors, "hash" if options.id_field is None else f"id:{options.id_field}")
    try:
        jobs = plan(paths, prompter, ledger, tally, options, on_error, input_format)
        if jobs:
            progress = Progress(tally, show_progress)
            distiller = Distiller(options, Teacher(options, api_key, tally), ledger, tally, progress)
            try:
                with progress:  # after the grader's fork: the bar runs a thread
                    asyncio.run(_ask(distiller, jobs))
            finally:
                distiller.close()
    finally:
        ledger.close()


async def _ask(distiller: Distiller, jobs: list[Job]) -> None:
    async with distiller.teacher:
        await distiller.run(jobs)


def summary_lines(tally: Tally, output: str, errors: str, price_in: float | None, price_out: float | None) -> list[str]:
    """What the run did, reconciled: read = done + rejected + failed + the skipped kinds (+ left)."""
    t = tally
    parts = [f"{t.done} done", f"{t.rejected} rejected", f"{t.failed} failed"]
    for count, what in ((t.finished_before, "finished by an earlier run"), (t.duplicates, "duplicates"),
                        (len(t.unreadable), "unreadable"), (t.left, "not finished (interrupted)")):
        if count:
            parts.append(f"{count} {what}")
    lines = [f"tp distill: {t.read} records read: " + ", ".join(parts),
             f"  {t.lines} lines appended to {output}"]
    cost = t.cost(price_in, price_out)
    tokens = f"  tokens: {t.prompt_tokens:,} prompt + {t.completion_tokens:,} completion"
    lines.append(tokens + ("" if cost is None else f", cost ${cost:,.2f}")
                 + (f"; {t.retries} retries" if t.retries else "")
                 + (f"; {t.todo - t.left} records in {t.seconds:.1f} s ({(t.todo - t.left) / t.seconds:.1f}/s)"
                    if t.seconds else ""))
    if t.rejected or t.failed:
        lines.append(f"  rejected and failed records, with the reason: {errors}")
    if t.failed:
        lines.append("  rerun the same command to retry the failed ones")
    for source, line, reason in t.unreadable[:20]:
        lines.append(f"  skipped {source}:{line}: {reason}")
    if len(t.unreadable) > 20:
        lines.append(f"  … and {len(t.unreadable) - 20} more")
    return lines
