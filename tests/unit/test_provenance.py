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


def _git(root: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_the_source_commit_names_the_checkout_and_whether_its_code_was_modified(tmp_path):
    from xshot.provenance import source_commit

    assert source_commit(tmp_path) is None  # not a git checkout: an installed copy
    source_commit.cache_clear()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("notes\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "--short=12", "HEAD")
    assert len(head) == 12 and source_commit(tmp_path) == head
    source_commit.cache_clear()
    (tmp_path / "README.md").write_text("other notes\n")  # outside src/: the code that ran is the commit's
    (tmp_path / "src" / "new.py").write_text("y = 2\n")  # untracked: not part of the package's tracked code
    assert source_commit(tmp_path) == head
    source_commit.cache_clear()
    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert source_commit(tmp_path) == head + "+modified"
    source_commit.cache_clear()


def test_versions_record_this_checkouts_commit():
    from xshot.provenance import source_commit

    assert versions().get("xshot_commit") == source_commit()
    assert source_commit() is None or source_commit().split("+")[0] == _git(REPO, "rev-parse", "--short=12", "HEAD")
