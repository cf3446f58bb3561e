"""Plain fine-tuning: a linear head on the backbone, all parameters trained (the baseline)."""

from xshot.methods import Cost, Method
from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.finetune.model import FinetuneModel, build

#: cost: examples/xnli-fewshot-quick.yaml on me5-small (2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP)
METHOD = Method(FinetuneConfig, build, Cost(step_s=0.73, eval_s=0.014), __doc__,
                family="baseline", display_name="fine-tuning", exports=("nli",))

__all__ = ["FinetuneConfig", "FinetuneModel", "build"]
