"""Dual Contrastive Learning (Chen et al. 2022): label names in the input act as the classifier."""

from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss, supervised_contrast
from xshot.methods.dualcl.model import DualCLModel, build

__all__ = ["DualCLConfig", "DualCLModel", "build", "dual_contrastive_loss", "supervised_contrast"]
