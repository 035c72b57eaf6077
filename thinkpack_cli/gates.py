"""CI gates: ``--fail-if 'valid_rate < 0.95'`` over any reported metric.

A gate is ``METRIC OP NUMBER``; ``delta.METRIC`` gates the change against the
first input. A gate is checked on every row (each group, each input); a row
whose value is null (nothing to measure) misses it, since a gate that cannot be
evaluated must not pass silently.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_GATE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.@]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    threshold: float
    text: str

    def value(self, row: dict) -> Any:
        if self.metric.startswith("delta."):
            return (row.get("delta") or {}).get(self.metric[6:])
        return row.get(self.metric)

    def applies(self, row: dict) -> bool:
        return not self.metric.startswith("delta.") or "delta" in row

    def missed(self, row: dict) -> bool:
        value = self.value(row)
        return value is None or _OPERATORS[self.op](value, self.threshold)


def parse_gate(text: str, known: list[str]) -> Gate:
    m = _GATE.match(text)
    if m is None:
        raise UsageError(f"cannot read gate {text!r}: write METRIC OP NUMBER, e.g. 'valid_rate < 0.95'")
    metric = m["metric"]
    if metric.removeprefix("delta.") not in known:
        raise UsageError(f"gate {text!r}: unknown metric {metric!r}; known: {', '.join(known)}")
    return Gate(metric, m["op"], float(m["value"]), text.strip())


def check_inputs(gates: list[Gate], inputs: int) -> None:
    """A ``delta.`` gate needs a second input to compare with the first: with one it could never be checked."""
    for gate in gates:
        if gate.metric.startswith("delta.") and inputs < 2:
            raise UsageError(f"gate {gate.text!r}: a delta compares inputs with the first; name two or more inputs")


@dataclass(frozen=True)
class Miss:
    gate: Gate
    row: dict
    value: Any
    where: str

    def __str__(self) -> str:
        value = "null (nothing to measure)" if self.value is None else f"{self.value:.6g}"
        return f"{self.gate.text}{self.where}: {self.gate.metric} = {value}, threshold {self.gate.threshold:g}"


def check(gates: list[Gate], rows: list[dict], group_fields: tuple[str, ...]) -> list[Miss]:
    """Every (gate, row) pair that misses."""
    misses = []
    for gate in gates:
        for row in rows:
            if gate.applies(row) and gate.missed(row):
                misses.append(Miss(gate, row, gate.value(row), _where(row, group_fields)))
    return misses


def _where(row: dict, group_fields: tuple[str, ...]) -> str:
    parts = [f"{name}={row.get(name)}" for name in group_fields]
    if "input" in row:
        parts.append(f"input={row['input']}")
    return f" [{', '.join(parts)}]" if parts else ""
