from __future__ import annotations

from xshot.backbone import Backbone
from xshot.methods.base import XshotModel
from xshot.methods.peft_tuning import scored_model, wrap
from xshot.methods.soft_prompt.config import SoftPromptConfig

INIT_TEXT = {
    "nli": "Does the first sentence imply the second one? Answer yes, maybe or no.",
    "ner": "Label each word as a person, organization, location, date or other.",
}


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: SoftPromptConfig,
          **kwargs) -> XshotModel:
    from peft import PromptTuningConfig, PromptTuningInit

    inits = {"text": PromptTuningInit.TEXT, "vocab": PromptTuningInit.SAMPLE_VOCAB, "random": PromptTuningInit.RANDOM}
    model = scored_model(backbone, task, entity_types, config, **kwargs)
    text = config.init_text or INIT_TEXT[task]
    peft_config = PromptTuningConfig(
        task_type="FEATURE_EXTRACTION",
        num_virtual_tokens=config.num_virtual_tokens,
        prompt_tuning_init=inits[config.init],
        prompt_tuning_init_text=text if config.init == "text" else None,
        tokenizer_name_or_path=backbone.name if config.init == "text" else None,
    )
    return wrap(model, peft_config)
