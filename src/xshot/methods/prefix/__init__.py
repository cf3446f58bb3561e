"""Prefix tuning / P-tuning v2: trainable key/value prefixes in every layer of a frozen backbone."""

from xshot.methods import Cost, Method
from xshot.methods.prefix.config import PrefixConfig
from xshot.methods.prefix.model import build

#: cost: soft-prompt's (a frozen body, no extra positions; not measured on its own)
METHOD = Method(PrefixConfig, build, Cost(step_s=0.9, eval_s=0.022), __doc__,
                family="peft", display_name="prefix tuning")

__all__ = ["PrefixConfig", "build"]
