"""Dual Contrastive Learning (Chen et al. 2022): label names in the input act as the classifier."""

from xshot.methods import Cost, Method
from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss, supervised_contrast
from xshot.methods.dualcl.model import DualCLModel, build

#: cost: examples/xnli-fewshot-quick.yaml on me5-small (2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP)
METHOD = Method(DualCLConfig, build, Cost(step_s=1.16, eval_s=0.02), __doc__,
                family="contrastive", display_name="DualCL")

__all__ = ["DualCLConfig", "DualCLModel", "build", "dual_contrastive_loss", "supervised_contrast"]
