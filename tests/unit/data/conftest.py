"""Fixtures for the data unit tests: hand-written files, and no environment leaking in."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must not read a developer's real data root (the Hub is only ever a stand-in here)."""
    monkeypatch.delenv("XSHOT_DATA_ROOT", raising=False)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def fixture_root() -> Path:
    """A miniature data root laid out like ../shared/data (plus AmericasNLI, which it lacks)."""
    return FIXTURES / "root"
