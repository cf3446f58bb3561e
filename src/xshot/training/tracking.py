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
from xshot.results import RunResult

ENV = "XSHOT_TRACK_DIR"


def track_dir(explicit: str | Path | None = None) -> Path | None:
    value = explicit if explicit is not None else os.environ.get(ENV) or None
    return Path(value).expanduser() if value else None


def _hparams(result: RunResult) -> dict[str, Any]:
    """Flat scalar/string hyper-parameters (TensorBoard's HParams take nothing else)."""
    flat: dict[str, Any] = {}
    for prefix, values in (("", result.config), ("option.", result.method_config)):
        for key, value in values.items():
            if isinstance(value, bool) or isinstance(value, (int, float, str)):
                flat[prefix + key] = value
            elif value is not None:
                flat[prefix + key] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return flat


def log_run(result: RunResult, directory: Path) -> Path:
    """Write one run's events under ``directory/<run key>``; returns that folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # tensorboard is an optional dependency
        raise XshotError(f"tracking needs TensorBoard: pip install 'xshot[tracking]' ({err})") from None
    folder = directory / f"{result.config['method']}-{result.key}"
    primary = result.primary_metric
    with SummaryWriter(str(folder)) as writer:
        step = 0
        for stage in result.training:
            for loss in stage.loss:
                step += 1
                writer.add_scalar("train/loss", loss, step)
        scores = {}
        for spec, ev in result.evaluations.items():
            for name, value in ev.flat_scores().items():
                writer.add_scalar(f"eval/{spec}/{name}", value, step)
            if ev.score(primary) is not None:
                scores[f"score/{spec}"] = ev.score(primary)
        for name, seconds in result.time.model_dump().items():
            if seconds is not None:
                writer.add_scalar(f"time/{name}", seconds, step)
        if scores:
            scores[f"score/mean {primary}"] = sum(scores.values()) / len(scores)
        writer.add_hparams(_hparams(result), scores, run_name=".")
    return folder
