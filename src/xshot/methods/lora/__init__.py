"""LoRA (Hu et al. 2022): trainable low-rank updates to the frozen backbone's linear layers."""

from xshot.methods.lora.config import LoraMethodConfig
from xshot.methods.lora.model import build

__all__ = ["LoraMethodConfig", "build"]
