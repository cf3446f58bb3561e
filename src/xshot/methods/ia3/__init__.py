"""(IA)³ (Liu et al. 2022): learned vectors rescaling keys, values and feed-forward activations."""

from xshot.methods import Cost, Method
from xshot.methods.ia3.config import IA3MethodConfig
from xshot.methods.ia3.model import build

#: cost: between soft-prompt's and lora's (a frozen body; not measured on its own)
METHOD = Method(IA3MethodConfig, build, Cost(step_s=1.2, eval_s=0.025), __doc__,
                family="peft", display_name="(IA)³")

__all__ = ["IA3MethodConfig", "build"]
