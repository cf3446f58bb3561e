"""Prompt tuning (Lester et al. 2021): trainable virtual tokens before a frozen backbone."""

from xshot.methods import Cost, Method
from xshot.methods.soft_prompt.config import SoftPromptConfig
from xshot.methods.soft_prompt.model import build

#: cost: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
METHOD = Method(SoftPromptConfig, build, Cost(step_s=0.9, eval_s=0.05), __doc__)

__all__ = ["SoftPromptConfig", "build"]
