"""Prompt-based fine-tuning: LM-BFF/PET cloze prompts for NLI, EntLM for NER; all parameters trained."""

from xshot.methods import Cost, Method
from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.model import PromptModel, build

#: cost: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
METHOD = Method(PromptConfig, build, Cost(step_s=1.9, eval_s=0.05), __doc__)

__all__ = ["PromptConfig", "PromptModel", "build"]
