"""What a study's cells need wherever they run, checked before the first cell: on this machine for the local
executor, on every node of a Ray cluster (one probe task pinned to each) for the Ray executor.

Each missing thing would otherwise be a failed cell, one per seed and method, found one by one: a model alias
that resolves to no directory on a node, a data root or dataset a node cannot read, a runs directory the
workers do not share with the driver (their outputs would land on each worker's own disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xshot.errors import XshotError
from xshot.studies.grid import Cell

#: a file the driver writes in ``--runs-dir``; a node that cannot read it does not share that directory
RUNS_DIR_TOKEN = ".xshot-runs-dir"


@dataclass(frozen=True)
class Needs:
    """What the cells load and where their outputs go (shipped to the probe on each node)."""

    devices: tuple[str, ...]
    models: tuple[str, ...]
    datasets: tuple[tuple[str, str, str], ...]  # (setting, spec, split), in the cells' order
    data_root: str | None = None
    runs_dir: str | None = None
    token: str | None = None  # the content of the driver's token file in runs_dir


def needs_of(cells: list[Cell], data_root: str | Path | None = None, runs_dir: str | Path | None = None,
             token: str | None = None, models: bool = True) -> Needs:
    """``models``: also resolve each model name (on a cluster; locally the first cell that loads it says)."""
    seen: dict[tuple[str, str], str] = {}
    for cell in cells:
        for spec, split in cell.config.datasets():
            seen.setdefault((spec, split), cell.setting)
    names = tuple(dict.fromkeys(c.config.model for c in cells)) if models else ()
    return Needs(tuple(sorted({c.config.device for c in cells})), names,
                 tuple((setting, spec, split) for (spec, split), setting in seen.items()),
                 str(data_root) if data_root is not None else None, str(runs_dir) if runs_dir is not None else None,
                 token)


def problems(needs: Needs, check_devices: bool = True) -> list[str]:
    """Everything ``needs`` asks that this machine lacks, one line each (empty: the cells can run here)."""
    from xshot.backbone import select_device
    from xshot.data.spec import check as check_dataset
    from xshot.settings import resolve_model

    out = []
    for device in needs.devices if check_devices else ():
        try:
            select_device(device)
        except XshotError as exc:
            out.append(f"{exc.message}; the study's cells would all fail")
    for model in needs.models:
        try:
            resolve_model(model)
        except XshotError as exc:
            out.append(f"model {model!r}: {exc.message}")
    if needs.data_root is not None and not Path(needs.data_root).is_dir():
        out.append(f"data root {needs.data_root} is not a directory")
    for setting, spec, split in needs.datasets:
        try:
            check_dataset(spec, split, needs.data_root)
        except XshotError as exc:
            out.append(f"setting {setting!r}: {exc}")
    if needs.runs_dir is not None and needs.token is not None:
        token = Path(needs.runs_dir) / RUNS_DIR_TOKEN
        if not token.is_file() or token.read_text(encoding="utf-8") != needs.token:
            out.append(f"--runs-dir {needs.runs_dir} is not the driver's directory here (give a path every node "
                       "shares: cells' outputs would land on each worker's own disk)")
    return out


def write_token(runs_dir: str | Path, token: str) -> None:
    """The file each node's probe must find in the runs directory."""
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    (Path(runs_dir) / RUNS_DIR_TOKEN).write_text(token, encoding="utf-8")
