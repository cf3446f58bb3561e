"""Prompt tuning (Lester et al. 2021): trainable virtual tokens before a frozen backbone."""

from xshot.methods import Cost, Method
from xshot.methods.soft_prompt.config import SoftPromptConfig
from xshot.methods.soft_prompt.model import build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(SoftPromptConfig, build, Cost(step_s=0.37, eval_s=0.02, ner_step_s=0.14, ner_eval_s=0.014), __doc__,
                family="peft", display_name="soft-prompt tuning")

__all__ = ["SoftPromptConfig", "build"]
