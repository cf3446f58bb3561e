"""(IA)³ (Liu et al. 2022): learned vectors rescaling keys, values and feed-forward activations."""

from xshot.methods import Cost, Method
from xshot.methods.ia3.config import IA3MethodConfig
from xshot.methods.ia3.model import build

#: a frozen body; the backward pass still runs through every layer
METHOD = Method(IA3MethodConfig, build, Cost(step_s=1.1, eval_s=0.05), __doc__)

__all__ = ["IA3MethodConfig", "build"]
