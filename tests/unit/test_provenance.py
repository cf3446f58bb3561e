"""Every result names the library versions and the dependency lock it was produced with."""

import hashlib
from pathlib import Path

from xshot.provenance import LOCK_FILE, lock_hash, versions

REPO = Path(__file__).resolve().parents[2]


def test_versions_name_the_libraries_and_the_lock_of_this_checkout():
    v = versions()
    assert {"python", "xshot", "torch", "transformers", "peft"} <= set(v)
    lock = (REPO / LOCK_FILE).read_bytes()
    assert v["lock"] == lock_hash() == hashlib.sha256(lock).hexdigest()[:16]


def test_the_lock_pins_what_is_installed():
    from importlib import metadata

    pins = dict(line.split("==", 1) for line in (REPO / LOCK_FILE).read_text().splitlines()
                if line and not line.startswith("#"))
    for pkg in ("transformers", "peft", "torch", "datasets", "seqeval"):
        assert metadata.version(pkg).split("+")[0] == pins[pkg], pkg
