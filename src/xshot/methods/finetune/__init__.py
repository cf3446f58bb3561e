"""Plain fine-tuning: a linear head on the backbone, all parameters trained (the baseline)."""

from xshot.methods import Cost, Method
from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.finetune.model import FinetuneModel, build

#: cost: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
METHOD = Method(FinetuneConfig, build, Cost(step_s=1.9, eval_s=0.043), __doc__)

__all__ = ["FinetuneConfig", "FinetuneModel", "build"]
