"""What a run prepares before it trains: where it runs, the method's config, the shots and the model.

Shared by a run (:mod:`xshot.training.run`) and by reloading a saved model
(:mod:`xshot.training.checkpoint`), which rebuilds the model and redraws in-context shots the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch

from xshot.backbone import load_backbone
from xshot.data import Dataset, load
from xshot.data.labels import relabel
from xshot.data.sampling import sample_few_shot
from xshot.errors import Unavailable, XshotError
from xshot.methods import get_method
from xshot.methods.base import MethodConfig, XshotModel
from xshot.training.config import RunConfig, data_resource


@dataclass
class Runtime:
    device: torch.device
    dtype: torch.dtype | None
    data_root: str | None
    progress: bool


def method_config(config: RunConfig) -> MethodConfig:
    overrides = dict(config.options)
    for field, value in (("learning_rate", config.learning_rate), ("batch_size", config.batch_size)):
        if value is not None:
            overrides[field] = value
    mcfg = get_method(config.method).config_class.resolve(overrides)
    mcfg.check_task(config.task)
    return mcfg


def load_data(spec: str, split: str, data_root: str | None) -> Dataset:
    try:
        return load(spec, split, data_root)
    except Unavailable:
        raise
    except XshotError as err:
        raise Unavailable(err.message, data_resource(spec, split), err.path, err.line) from None


def training_data(config: RunConfig, spec: str, k: int | None, rt: Runtime) -> Dataset:
    data = load_data(spec, config.train_split, rt.data_root)
    if data.task != config.task:
        raise XshotError(f"{spec} is a {data.task} dataset, but the run's task is {config.task}")
    if config.label_map and data.task == "ner":
        data = dataclasses.replace(data, examples=[dataclasses.replace(ex, tags=relabel(ex.tags, config.label_map))
                                                   for ex in data.examples],
                                   labels=tuple(sorted({config.label_map.get(t, t) for t in data.labels} - {"O"})))
    return sample_few_shot(data, k, config.seed) if k else data


#: the dev-k sample's seed is the run's plus this, so it differs from the shots' draw
DEV_SEED_OFFSET = 1_000_003


def dev_sample(config: RunConfig, shots: Dataset, rt: Runtime) -> list:
    """LM-BFF's dev set: a second K-shot sample of the training data, disjoint from the shots."""
    data = training_data(config, config.train, None, rt)
    taken = {json.dumps(ex.to_json(), sort_keys=True) for ex in shots.examples}
    rest = dataclasses.replace(data, examples=[ex for ex in data.examples
                                               if json.dumps(ex.to_json(), sort_keys=True) not in taken])
    return sample_few_shot(rest, config.k, config.seed + DEV_SEED_OFFSET).examples


def build_model(config: RunConfig, mcfg: MethodConfig, entity_types: tuple[str, ...],
                source_language: str | None) -> XshotModel:
    backbone = load_backbone(config.model, trust_remote_code=config.trust_remote_code,
                             want_lm_head=mcfg.uses_lm_head, check=mcfg.check_backbone)
    model = get_method(config.method).build(backbone, config.task, entity_types, mcfg,
                                            max_length=config.max_length, source_language=source_language)
    if mcfg.freeze_embeddings:
        model.freeze_input_embeddings()
    return model
