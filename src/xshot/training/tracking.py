"""Optional experiment tracking: a run's configuration, loss curves and scores as TensorBoard event files.

Off by default; on with ``xshot train --track DIR``, ``xshot run --track DIR`` or a study's
``tracking: DIR`` (both set ``$XSHOT_TRACK_DIR`` for the runs). Event files are local, so tracking works
offline; ``tensorboard --logdir DIR`` shows every run side by side, with its hyper-parameters.
Logging happens once the run is finished and never changes a result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from xshot.errors import XshotError

ENV = "XSHOT_TRACK_DIR"


def track_dir(explicit: str | Path | None = None) -> Path | None:
    value = explicit if explicit is not None else os.environ.get(ENV) or None
    return Path(value).expanduser() if value else None


def _hparams(metrics: dict[str, Any]) -> dict[str, Any]:
    """Flat scalar/string hyper-parameters (TensorBoard's HParams take nothing else)."""
    flat: dict[str, Any] = {}
    for prefix, values in (("", metrics["config"]), ("option.", metrics.get("method_config") or {})):
        for key, value in values.items():
            if isinstance(value, bool) or isinstance(value, (int, float, str)):
                flat[prefix + key] = value
            elif value is not None:
                flat[prefix + key] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return flat


def log_run(metrics: dict[str, Any], directory: Path) -> Path:
    """Write one run's events under ``directory/<run key>``; returns that folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # tensorboard is an optional dependency
        raise XshotError(f"tracking needs TensorBoard: pip install 'xshot[tracking]' ({err})") from None
    folder = directory / f"{metrics['config']['method']}-{metrics['key']}"
    primary = metrics["primary_metric"]
    with SummaryWriter(str(folder)) as writer:
        step = 0
        for stage in metrics.get("training", []):
            for loss in stage["loss"]:
                step += 1
                writer.add_scalar("train/loss", loss, step)
        scores = {}
        for spec, ev in metrics["evaluations"].items():
            for name, value in ev["scores"].items():
                writer.add_scalar(f"eval/{spec}/{name}", value, step)
            scores[f"score/{spec}"] = ev["scores"][primary]
        for name, seconds in metrics["time"].items():
            writer.add_scalar(f"time/{name}", seconds, step)
        if scores:
            scores[f"score/mean {primary}"] = sum(scores.values()) / len(scores)
        writer.add_hparams(_hparams(metrics), scores, run_name=".")
    return folder
