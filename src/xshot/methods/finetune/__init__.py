"""Plain fine-tuning: a linear head on the backbone, all parameters trained (the baseline)."""

from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.finetune.model import FinetuneModel, build
from xshot.methods import Cost

#: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
COST = Cost(step_s=1.9, eval_s=0.043)

__all__ = ["FinetuneConfig", "FinetuneModel", "build"]
