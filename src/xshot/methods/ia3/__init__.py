"""(IA)³ (Liu et al. 2022): learned vectors rescaling keys, values and feed-forward activations."""

from xshot.methods import Cost, Method
from xshot.methods.ia3.config import IA3MethodConfig
from xshot.methods.ia3.model import build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(IA3MethodConfig, build, Cost(step_s=0.34, eval_s=0.016, ner_step_s=0.086, ner_eval_s=0.0081), __doc__,
                family="peft", display_name="(IA)³")

__all__ = ["IA3MethodConfig", "build"]
