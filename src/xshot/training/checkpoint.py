"""Saving and reloading a trained model: only trainable weights, always as safetensors.

Full fine-tuning saves every weight; parameter-efficient methods save only their adapter (soft prompt,
prefix, LoRA matrices or (IA)³ vectors) and the scorer's small parameters, and also the adapter as a
standard peft directory (``peft/``) that ``PeftModel.from_pretrained(AutoModel.from_pretrained(base), dir)``
loads without xshot. Reloading rebuilds the same architecture from
the base checkpoint named in ``xshot.json`` and loads these weights, so nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import torch
from safetensors.torch import load_file, save

from xshot.errors import XshotError
from xshot.io import atomic_open, write_json
from xshot.methods.base import MethodConfig, XshotModel
from xshot.results import ShotChoice
from xshot.training.config import RunConfig
from xshot.training.prepare import Runtime, build_model, training_data

WEIGHTS = "trainable.safetensors"
MANIFEST = "xshot.json"
PEFT_DIR = "peft"  # the body's adapter in peft's own format (the task head stays in WEIGHTS)


class Manifest(BaseModel):
    """``model/xshot.json``: what rebuilds a saved model (read by ``xshot eval``, ``predict`` and ``export``)."""

    model_config = ConfigDict(extra="ignore")

    run_config: RunConfig
    method_config: dict[str, Any] = Field(description="the resolved method options (MethodConfig fields)")
    entity_types: tuple[str, ...] = ()
    source_language: str | None = None
    choices: list[ShotChoice] = Field(default_factory=list, description="what the run chose from its shots")

    def method(self) -> MethodConfig:
        from xshot.methods import get_method

        return get_method(self.run_config.method).config_class(**self.method_config)


def trainable_state(model: XshotModel) -> dict[str, torch.Tensor]:
    """Trainable tensors by name; a tensor shared under several names (tied weights) is kept once."""
    seen: set[int] = set()
    state = {}
    for name, param in model.named_parameters():
        if param.requires_grad and id(param) not in seen:
            seen.add(id(param))
            state[name] = param.detach().to("cpu").contiguous()
    return state


def save_model(model: XshotModel, directory: Path, config: RunConfig, mcfg: MethodConfig,
               entity_types: tuple[str, ...], source_language: str | None,
               choices: list[ShotChoice] | tuple = ()) -> None:
    with atomic_open(directory / WEIGHTS, "wb") as f:
        f.write(save(trainable_state(model), metadata={"format": "pt", "xshot": "trainable"}))
    if hasattr(model.body, "peft_config"):  # a standard adapter directory: PeftModel.from_pretrained(base, it)
        model.body.save_pretrained(directory / PEFT_DIR, safe_serialization=True)
    manifest = Manifest(run_config=config, method_config=dataclasses.asdict(mcfg), entity_types=tuple(entity_types),
                        source_language=source_language, choices=list(choices))
    write_json(directory / MANIFEST, manifest.model_dump(mode="json"))


def model_directory(directory: str | Path) -> Path:
    """A run directory's ``model/``, or the directory itself when it is a model directory."""
    directory = Path(directory)
    return directory / "model" if (directory / "model" / MANIFEST).exists() else directory


def read_manifest(directory: str | Path) -> Manifest:
    """The run and method configuration a model was saved with (cheap: no weights are read)."""
    path = model_directory(directory) / MANIFEST
    if not path.exists():
        raise XshotError(f"{Path(directory)} is not a model saved by xshot (no {MANIFEST})")
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as err:
        first = str(err).splitlines()[0] if isinstance(err, json.JSONDecodeError) else \
            f"{'.'.join(str(x) for x in err.errors()[0]['loc'])}: {err.errors()[0]['msg']}"
        raise XshotError(f"not a valid xshot model manifest: {first}", path) from None


def load_model(directory: str | Path, data_root: str | None = None) -> tuple[XshotModel, RunConfig]:
    """Rebuild a model saved by :func:`save_model` (the base checkpoint must be reachable; for methods whose
    predictions read the shots, the training data too, under ``data_root``)."""
    directory = model_directory(directory)
    manifest = read_manifest(directory)
    config, mcfg = manifest.run_config, manifest.method()
    model = build_model(config, mcfg, manifest.entity_types, manifest.source_language)
    model.restore_choices(manifest.choices)
    state = load_file(directory / WEIGHTS)
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise XshotError(f"{directory / WEIGHTS}: weights {unknown[:3]} do not fit the rebuilt {config.method} model")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)
    if mcfg.needs_shots_at_test:  # demonstrations are the shots: draw them again (same spec, K and seed)
        shots = training_data(config, config.train, config.k, Runtime(torch.device("cpu"), None, data_root, False))
        model.observe_shots(shots.examples, shots.language, config.seed)
    model.eval()
    return model, config
