"""Local settings: model aliases, the data root and offline mode, so that no shell variable is needed.

A settings file is YAML::

    models:                       # alias → local directory or Hugging Face id
      me5-small: /data/models/multilingual-e5-small
    data_root: ../shared/data     # relative paths are relative to the file
    offline: true                 # never ask the Hugging Face Hub (HF_HUB_OFFLINE=1)

It is ``$XSHOT_SETTINGS`` if set, else the nearest ``xshot.local.yaml`` in the working directory or a
parent (the project's setup writes one, git ignores it), else ``~/.config/xshot/settings.yaml``.
Built-in aliases (``resources/models.yaml``) name the Hub checkpoints of the models the examples
use, so a user with network needs no settings at all; a plain Hub id or directory always works too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from xshot.errors import XshotError

FILE_NAME = "xshot.local.yaml"


@dataclass(frozen=True)
class Settings:
    models: dict[str, str] = field(default_factory=dict)
    data_root: str | None = None
    offline: bool = False
    source: str | None = None  # the file they came from


def settings_path() -> Path | None:
    explicit = os.environ.get("XSHOT_SETTINGS")
    if explicit is not None:
        return Path(explicit).expanduser() if explicit else None
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "xshot" / "settings.yaml"
    return user if user.is_file() else None


@lru_cache(maxsize=8)
def _read(path: str | None) -> Settings:
    if path is None or not Path(path).is_file():
        return Settings()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise XshotError(f"invalid YAML: {getattr(err, 'problem', err)}", path, mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or set(data) - {"models", "data_root", "offline"}:
        raise XshotError("expected a mapping with models, data_root and offline", path)
    models = data.get("models") or {}
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise XshotError("models: expected a mapping of alias → directory or Hub id", path)
    base = Path(path).parent
    root = data.get("data_root")
    return Settings(
        models={str(k): _relative_to(v, base) for k, v in models.items()},
        data_root=_relative_to(str(root), base) if root else None,
        offline=bool(data.get("offline", False)),
        source=str(path),
    )


def _relative_to(value: str, base: Path) -> str:
    """Paths in a settings file are relative to the file; Hub ids stay as they are."""
    if value.startswith(("./", "../", "~")) or value in (".", ".."):
        return str((base / Path(value).expanduser()).resolve())
    return value


def current() -> Settings:
    path = settings_path()
    return _read(str(path) if path else None)


@lru_cache(maxsize=1)
def builtin_aliases() -> dict[str, str]:
    text = resources.files("xshot.resources").joinpath("models.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["models"])


def resolve_model(name: str) -> str:
    """A model name as ``from_pretrained`` takes it: a local alias, a built-in alias, a directory or a Hub id.

    A name that looks like a path must exist; anything else that is no alias is taken for a Hub id.
    """
    local = current().models
    if name in local:
        target = local[name]
    elif name in builtin_aliases():
        target = builtin_aliases()[name]
    else:
        target = name
    looks_local = target.startswith(("/", "./", "../", "~")) or Path(target).expanduser().exists()
    if looks_local and not Path(target).expanduser().is_dir():
        via = f" (alias {name!r} in {current().source})" if name in local else ""
        raise XshotError(f"model directory {target!r}{via} does not exist")
    return str(Path(target).expanduser()) if looks_local else target


def known_aliases() -> list[str]:
    return sorted({*builtin_aliases(), *current().models})


def apply_offline() -> None:
    """Offline settings mean no Hub requests at all (and so no retries before a failure)."""
    if current().offline:
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            os.environ.setdefault(var, "1")
