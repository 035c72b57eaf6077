"""What a run did, counted for every record, and the lines that say so."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Counts:
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


def summary_lines(
    tally: Counts, output: str, errors: str, price_in: float | None, price_out: float | None
) -> list[str]:
    """What the run did, reconciled: read = done + rejected + failed + the skipped kinds (+ left)."""
    t = tally
    parts = [f"{t.done} done", f"{t.rejected} rejected", f"{t.failed} failed"]
    for count, what in (
        (t.finished_before, "finished by an earlier run"),
        (t.duplicates, "duplicates"),
        (len(t.unreadable), "unreadable"),
        (t.left, "not finished (interrupted)"),
    ):
        if count:
            parts.append(f"{count} {what}")
    lines = [f"tp distill: {t.read} records read: " + ", ".join(parts), f"  {t.lines} lines appended to {output}"]
    cost = t.cost(price_in, price_out)
    tokens = f"  tokens: {t.prompt_tokens:,} prompt + {t.completion_tokens:,} completion"
    lines.append(
        tokens
        + ("" if cost is None else f", cost ${cost:,.2f}")
        + (f"; {t.retries} retries" if t.retries else "")
        + (
            f"; {t.todo - t.left} records in {t.seconds:.1f} s ({(t.todo - t.left) / t.seconds:.1f}/s)"
            if t.seconds
            else ""
        )
    )
    if t.rejected or t.failed:
        lines.append(f"  rejected and failed records, with the reason: {errors}")
    if t.failed:
        lines.append("  rerun the same command to retry the failed ones")
    for source, line, reason in t.unreadable[:20]:
        lines.append(f"  skipped {source}:{line}: {reason}")
    if len(t.unreadable) > 20:
        lines.append(f"  … and {len(t.unreadable) - 20} more")
    return lines
