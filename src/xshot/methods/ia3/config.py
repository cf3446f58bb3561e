from dataclasses import dataclass

from xshot.methods.base import option
from xshot.methods.peft_tuning import PeftConfig


@dataclass
class IA3MethodConfig(PeftConfig):
    """(IA)³ as in T-Few (Liu et al. 2022, NeurIPS): learning rate 3e-3 (with Adafactor there; AdamW here),
    vectors on the keys, the values and the feed-forward intermediate activations of every layer.

    ``target_modules: auto`` picks exactly those modules by name (BERT/XLM-R: attention ``key``, ``value``
    and the second feed-forward matrix ``output.dense`` of each layer, whose input is the intermediate
    activation; LLaMA/Gemma-style decoders: ``k_proj``, ``v_proj`` and ``down_proj``). peft's own defaults
    differ (for Gemma it scales queries instead of keys, for BERT also the attention output), so xshot
    names the modules itself.
    """

    learning_rate: float = option(3e-3, "peak learning rate of AdamW", minimum=0)
    target_modules: str = option("auto", "auto (the paper's keys, values and feed-forward), or a regular "
                                         "expression over module names")
    feedforward_modules: str = option("auto", "auto, or a regular expression: targets whose input (not output) "
                                              "is rescaled")
