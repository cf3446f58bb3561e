"""LoRA (Hu et al. 2022): trainable low-rank updates to the frozen backbone's linear layers."""

from xshot.methods import Cost, Method
from xshot.methods.lora.config import LoraMethodConfig
from xshot.methods.lora.model import build

#: cost: examples/xnli-fewshot-quick.yaml on me5-small (2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP)
METHOD = Method(LoraMethodConfig, build, Cost(step_s=1.32, eval_s=0.029), __doc__,
                family="peft", display_name="LoRA")

__all__ = ["LoraMethodConfig", "build"]
