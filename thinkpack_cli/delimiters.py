"""A reasoning block in a family's own written form, and the forms of the built-in styles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delimiters:
    """A reasoning block in a family's own form: ``open`` + ``after_open`` + reasoning +
    ``before_close`` + ``close`` + ``after_close``, then the answer."""

    open: str
    close: str
    after_open: str = ""
    before_close: str = ""
    after_close: str = ""

    def block(self, reasoning: str) -> str:
        return self.opening() + reasoning + self.closing()

    def opening(self) -> str:
        return self.open + self.after_open

    def closing(self) -> str:
        return self.before_close + self.close + self.after_close


# Qwen3, DeepSeek-R1 and QwQ write `<think>\nR\n</think>\n\nA` (empty: `<think>\n\n</think>\n\n`);
# Magistral writes `[THINK]R[/THINK]A`; harmony closes analysis and opens the final channel.
DELIMITERS = {
    "think": Delimiters("<think>", "</think>", "\n", "\n", "\n\n"),
    "bracket": Delimiters("[THINK]", "[/THINK]"),
    "harmony": Delimiters(
        "<|channel|>analysis<|message|>", "<|end|>", after_close="<|start|>assistant<|channel|>final<|message|>"
    ),
}
