"""Prompt-based fine-tuning: LM-BFF/PET cloze prompts for NLI, EntLM for NER; all parameters trained."""

from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.model import PromptModel, build
from xshot.methods import Cost

#: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
COST = Cost(step_s=1.9, eval_s=0.05)

__all__ = ["PromptConfig", "PromptModel", "build"]
