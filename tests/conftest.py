"""Shared fixtures: tiny offline backbones for unit tests; the real shared data for integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    return str(build_tiny("encoder", tmp_path_factory.mktemp("tiny-encoder")))


@pytest.fixture(scope="session")
def tiny_encoder_no_head(tmp_path_factory) -> str:
    return str(build_tiny("encoder", tmp_path_factory.mktemp("tiny-encoder-bare"), with_head=False))


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> str:
    return str(build_tiny("decoder", tmp_path_factory.mktemp("tiny-decoder")))


def shared_data_root() -> Path:
    root = Path(os.environ.get("XSHOT_DATA_ROOT") or REPO.parent / "shared" / "data")
    if not (root / "nli" / "xnli").is_dir():
        pytest.fail(f"the shared data is missing at {root}; set XSHOT_DATA_ROOT (CI always has it)")
    return root


def offline_model(name: str) -> str:
    """Path of an offline model built by ../shared/tools/offline_models.py; fails loudly if absent."""
    env = {"me5-small": "XSHOT_ME5", "gemma3-270m": "XSHOT_GEMMA"}[name]
    path = os.environ.get(env) or str(Path.home() / ".cache" / "offline-models" / name)
    if not (Path(path) / "config.json").exists():
        pytest.fail(f"offline model {name} is missing at {path}; run ../shared/tools/offline_models.py path {name}")
    return path


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's tokenization cache (~/.cache/xshot)."""
    monkeypatch.setenv("XSHOT_CACHE_DIR", str(tmp_path_factory.mktemp("xshot-cache")))


@pytest.fixture(autouse=True)
def _no_local_settings(monkeypatch):
    """Tests never read the checkout's xshot.local.yaml or the user's settings; a test may set its own."""
    monkeypatch.setenv("XSHOT_SETTINGS", "")
