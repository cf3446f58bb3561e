"""Dual Contrastive Learning (Chen et al. 2022): label names in the input act as the classifier."""

from xshot.methods import Cost, Method
from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss, supervised_contrast
from xshot.methods.dualcl.model import DualCLModel, build

#: cost: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
METHOD = Method(DualCLConfig, build, Cost(step_s=2.0, eval_s=0.05), __doc__)

__all__ = ["DualCLConfig", "DualCLModel", "build", "dual_contrastive_loss", "supervised_contrast"]
