"""Dual Contrastive Learning (Chen et al. 2022): label names in the input act as the classifier."""

from xshot.methods import Cost, Method
from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss, supervised_contrast
from xshot.methods.dualcl.model import DualCLModel, build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(DualCLConfig, build, Cost(step_s=0.51, eval_s=0.019, ner_step_s=0.32, ner_eval_s=0.011), __doc__,
                family="contrastive", display_name="DualCL")

__all__ = ["DualCLConfig", "DualCLModel", "build", "dual_contrastive_loss", "supervised_contrast"]
