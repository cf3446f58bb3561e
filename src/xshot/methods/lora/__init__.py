"""LoRA (Hu et al. 2022): trainable low-rank updates to the frozen backbone's linear layers."""

from xshot.methods import Cost, Method
from xshot.methods.lora.config import LoraMethodConfig
from xshot.methods.lora.model import build

#: cost: benchmarks/scaling.py (finetune, idle machine); others scaled by their step-time ratio in the closing runs
METHOD = Method(LoraMethodConfig, build, Cost(step_s=1.2, eval_s=0.045), __doc__)

__all__ = ["LoraMethodConfig", "build"]
