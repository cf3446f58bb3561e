from dataclasses import dataclass

from xshot.methods.base import option
from xshot.methods.peft_tuning import PeftConfig


@dataclass
class PrefixConfig(PeftConfig):
    """P-tuning v2 (Liu et al. 2022, ACL): prefixes of trainable keys and values in every layer, without
    the MLP reparameterisation of prefix tuning (Li & Liang 2021), which P-tuning v2 found unnecessary for
    understanding tasks; its classification runs use prefix lengths of 4-64 and learning rates of 5e-3 to
    1e-2 (AdamW). 20 virtual tokens and 1e-2 here."""

    learning_rate: float = option(1e-2, "peak learning rate of AdamW", minimum=0)
    num_virtual_tokens: int = option(20, "prefix length: key/value pairs added to every layer", minimum=1)
    prefix_projection: bool = option(False, "reparameterise the prefix through an MLP (Li & Liang 2021)")
    encoder_hidden_size: int = option(512, "hidden size of that MLP", minimum=1)
