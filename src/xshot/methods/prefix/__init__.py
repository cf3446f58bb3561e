"""Prefix tuning / P-tuning v2: trainable key/value prefixes in every layer of a frozen backbone."""

from xshot.methods import Cost, Method
from xshot.methods.prefix.config import PrefixConfig
from xshot.methods.prefix.model import build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(PrefixConfig, build, Cost(step_s=0.3, eval_s=0.015, ner_step_s=0.087, ner_eval_s=0.011), __doc__,
                family="peft", display_name="prefix tuning")

__all__ = ["PrefixConfig", "build"]
