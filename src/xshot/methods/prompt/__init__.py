"""Prompt-based fine-tuning: LM-BFF/PET cloze prompts for NLI, EntLM for NER; all parameters trained."""

from xshot.methods import Cost, Method
from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.model import PromptModel, build

#: cost: examples/xnli-fewshot-quick.yaml on me5-small (2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP)
METHOD = Method(PromptConfig, build, Cost(step_s=0.68, eval_s=0.02), __doc__,
                family="prompting", display_name="prompt-based fine-tuning")

__all__ = ["PromptConfig", "PromptModel", "build"]
