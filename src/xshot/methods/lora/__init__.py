"""LoRA (Hu et al. 2022): trainable low-rank updates to the frozen backbone's linear layers."""

from xshot.methods import Cost, Method
from xshot.methods.lora.config import LoraMethodConfig
from xshot.methods.lora.model import build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(LoraMethodConfig, build, Cost(step_s=0.58, eval_s=0.017, ner_step_s=0.38, ner_eval_s=0.0092), __doc__,
                family="peft", display_name="LoRA")

__all__ = ["LoraMethodConfig", "build"]
