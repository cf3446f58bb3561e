from dataclasses import dataclass

from xshot.methods.base import option
from xshot.methods.peft_tuning import HEADS, PeftConfig


@dataclass
class LoraMethodConfig(PeftConfig):
    """Hu et al. (2022) use lr 5e-4, rank 8 on RoBERTa-base; a linear head is the usual pairing."""

    learning_rate: float = option(5e-4, "peak learning rate of AdamW", minimum=0)
    head: str = option("linear", "scorer on the frozen body: verbalizer (label words) or linear", choices=HEADS)
    rank: int = option(8, "rank of the low-rank updates", minimum=1)
    lora_alpha: int = option(16, "scaling numerator (updates are scaled by alpha / rank)", minimum=1)
    lora_dropout: float = option(0.1, "dropout on the adapter input", minimum=0, maximum=1)
    target_modules: str = option("all-linear", "all-linear, or a comma-separated list of module names")
