"""Prefix tuning through peft's ``PrefixTuningConfig``.

peft hands the prefix to the body as past keys and values and widens the attention mask by the prefix
length; the body's outputs keep the input's positions (unlike prompt tuning's virtual tokens), so no
position is shifted before scoring.
"""

from __future__ import annotations

from xshot.backbone import Backbone
from xshot.methods.base import XshotModel
from xshot.methods.peft_tuning import scored_model, wrap
from xshot.methods.prefix.config import PrefixConfig


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: PrefixConfig,
          **kwargs) -> XshotModel:
    from peft import PrefixTuningConfig

    model = scored_model(backbone, task, entity_types, config, **kwargs)
    peft_config = PrefixTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=config.num_virtual_tokens,
                                     prefix_projection=config.prefix_projection,
                                     encoder_hidden_size=config.encoder_hidden_size)
    return wrap(model, peft_config)
