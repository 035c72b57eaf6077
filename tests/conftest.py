"""Shared fixtures: where the repo's samples and the developers' ../shared data live.

``../shared`` (real corpus and tokenizers) sits beside the checkout on developer machines and in
CI only; a user's clone has none, so every test that needs it skips, saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinkpack_cli.cli import app

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _need(path: Path, what: str) -> Path:
    if not path.is_dir():
        pytest.skip(f"{what} not found at {path} (../shared exists on developer machines and in CI only)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED, "shared data")


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "corpus", "the reasoning-output corpus")


@pytest.fixture(scope="session")
def tokenizers_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "tokenizers", "the tokenizer fixtures")


@pytest.fixture(scope="session")
def tp():
    """Runs ``tp`` with arguments, in-process, as a user's shell would (exit code, stdout, stderr)."""
    return lambda *args, input=None: CliRunner().invoke(app, [str(a) for a in args], input=input)
