"""``tp stats --markdown``: a block for ``$GITHUB_STEP_SUMMARY`` that stands on its own when appended.

It starts with a heading naming the inputs, holds the table and every gate's result (passed or missed, with
the value on each row it applies to), and ends with a blank line, so two reports appended to one summary
stay two tables.
"""

from __future__ import annotations

from typing import Any


def markdown(inputs: list[str], table: str, gates: list, rows: list[dict], by: tuple[str, ...]) -> str:
    names = ", ".join(f"`{name}`" for name in inputs) or "`<stdin>`"
    parts = [f"### tp stats: {names}\n", table.rstrip("\n") + "\n"]
    if gates:
        lines = ["| gate | where | value | result |", "| --- | --- | ---: | --- |"]
        for gate in gates:
            for row in rows:
                if gate.applies(row):
                    value = gate.value(row)
                    result = "❌ missed" if gate.missed(row) else "✅ passed"
                    lines.append(f"| `{gate.text}` | {_where(row, by)} | {_value(value)} | {result} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts) + "\n"


def _where(row: dict, by: tuple[str, ...]) -> str:
    parts = [f"{name}={row.get(name)}" for name in by]
    if "input" in row:
        parts.append(f"input={row['input']}")
    return (", ".join(parts) or "all").replace("|", "\\|")


def _value(value: Any) -> str:
    return "null" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
