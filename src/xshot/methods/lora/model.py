from __future__ import annotations

from xshot.backbone import Backbone
from xshot.methods.base import XshotModel
from xshot.methods.lora.config import LoraMethodConfig
from xshot.methods.peft_tuning import scored_model, wrap


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: LoraMethodConfig,
          **kwargs) -> XshotModel:
    from peft import LoraConfig

    targets = config.target_modules if config.target_modules == "all-linear" else \
        [m.strip() for m in config.target_modules.split(",") if m.strip()]
    model = scored_model(backbone, task, entity_types, config, **kwargs)
    peft_config = LoraConfig(task_type="FEATURE_EXTRACTION", r=config.rank, lora_alpha=config.lora_alpha,
                             lora_dropout=config.lora_dropout, target_modules=targets)
    return wrap(model, peft_config)
