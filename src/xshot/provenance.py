"""Where a result came from: library versions, the hash of the dependency lock it was tested with, and the commit
of the xshot checkout that ran it (speed work changes rounding and random draws between commits, so cells of one
comparison that ran under different commits differ in code as well as in method: the report says so)."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

LOCK_FILE = "requirements.lock"
_PACKAGES = ("xshot", "torch", "transformers", "peft")


#: the checkout this code runs from (an installed copy has no .git there)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def lock_hash() -> str | None:
    """sha256 (16 hex digits) of the checkout's ``requirements.lock``; None for an installed copy without one."""
    path = SOURCE_ROOT / LOCK_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


@lru_cache(maxsize=4)
def source_commit(root: Path = SOURCE_ROOT) -> str | None:
    """The checkout's commit (12 hex digits), with ``+modified`` when its tracked files under ``src/`` differ
    from it; None outside a git checkout or without git."""
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        modified = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+modified" if modified else "")


def versions() -> dict[str, str]:
    """Python, the libraries that decide a result (from package metadata: no heavy import) and the lock."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    lock = lock_hash()
    if lock:
        out["lock"] = lock
    commit = source_commit()
    if commit:
        out["xshot_commit"] = commit
    return out
