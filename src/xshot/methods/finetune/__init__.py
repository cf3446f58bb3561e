"""Plain fine-tuning: a linear head on the backbone, all parameters trained (the baseline)."""

from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.finetune.model import FinetuneModel, build

__all__ = ["FinetuneConfig", "FinetuneModel", "build"]
