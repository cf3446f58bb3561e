"""Plain fine-tuning: a linear head on the backbone, all parameters trained (the baseline)."""

from xshot.methods import Cost, Method
from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.finetune.model import FinetuneModel, build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(FinetuneConfig, build, Cost(step_s=0.48, eval_s=0.016, ner_step_s=0.32, ner_eval_s=0.012), __doc__,
                family="baseline", display_name="fine-tuning", exports=("nli",))

__all__ = ["FinetuneConfig", "FinetuneModel", "build"]
