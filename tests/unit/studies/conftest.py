"""Fixtures for the study tests: a tiny study file and the deterministic fake runner."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # so that "study_fake_runner:run" imports here, in subprocesses and on Ray
    sys.path.insert(0, str(HERE))

from study_fixtures import FAKE_VARS, TINY  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in FAKE_VARS + ("XSHOT_TEST_MODEL",):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def runner() -> str:
    return "study_fake_runner:run"


@pytest.fixture
def make_study(tmp_path):
    def make(text: str = TINY, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for var in FAKE_VARS:
        env.pop(var, None)
    return env
