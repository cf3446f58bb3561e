"""Prompt tuning (Lester et al. 2021): trainable virtual tokens before a frozen backbone."""

from xshot.methods import Cost, Method
from xshot.methods.soft_prompt.config import SoftPromptConfig
from xshot.methods.soft_prompt.model import build

#: cost: examples/xnli-fewshot-quick.yaml on me5-small (2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP)
METHOD = Method(SoftPromptConfig, build, Cost(step_s=0.95, eval_s=0.022), __doc__,
                family="peft", display_name="soft-prompt tuning")

__all__ = ["SoftPromptConfig", "build"]
