"""Where a result came from: library versions and the hash of the dependency lock it was tested with."""

from __future__ import annotations

import hashlib
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

LOCK_FILE = "requirements.lock"
_PACKAGES = ("xshot", "torch", "transformers", "peft")


@lru_cache(maxsize=1)
def lock_hash() -> str | None:
    """sha256 (16 hex digits) of the checkout's ``requirements.lock``; None for an installed copy without one."""
    path = Path(__file__).resolve().parents[2] / LOCK_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


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
    return out
