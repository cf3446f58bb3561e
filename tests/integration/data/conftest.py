"""The real data in ../shared/data (or $XSHOT_DATA_ROOT): missing data fails these tests, never skips them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from xshot.data import Dataset, load
from xshot.data.spec import DATASETS

REPO = Path(__file__).resolve().parents[3]

# What ../shared/data/README.md promises (AmericasNLI is not there).
EXPECTED = {
    "xnli": ("ar bg de el en es fr hi ru sw th tr ur vi zh", ("dev", "test")),
    "masakhaner2": ("bam ewe hau ibo kin lug luo nya pcm sna swa wol xho yor zul", ("train", "dev", "test")),
    "masakhaner1": ("amh", ("train", "dev", "test")),
    "conll2002": ("es nl", ("train", "dev", "test")),
    "wikiann": ("en de fr nl", ("train", "dev", "test")),
    "wikiann-rahimi": ("amh ibo kin swa yor", ("train", "dev", "test")),
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The data root, checked file by file so that nothing silently falls back to the Hub."""
    root = Path(os.environ.get("XSHOT_DATA_ROOT") or REPO.parent / "shared" / "data")
    missing = [
        str(path)
        for name, (languages, splits) in EXPECTED.items()
        for lang in languages.split()
        for split in splits
        if not (path := DATASETS.get(name).local_path(root, lang, split)).is_file()
    ]
    if missing:
        pytest.fail(f"real data missing under {root} ({len(missing)} files, e.g. {missing[0]}): set XSHOT_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def real(shared_data: Path) -> Callable[[str], Dataset]:
    """Load a built-in ``NAME:LANG:SPLIT`` from the real files, once per session."""
    cache: dict[str, Dataset] = {}

    def get(spec: str) -> Dataset:
        if spec not in cache:
            cache[spec] = load(spec, data_root=shared_data)
        return cache[spec]

    return get


@pytest.fixture
def cli_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at the real data the way a user would, through XSHOT_DATA_ROOT."""
    monkeypatch.setenv("XSHOT_DATA_ROOT", str(shared_data))
    return shared_data
