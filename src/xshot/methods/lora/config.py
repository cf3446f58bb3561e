from dataclasses import dataclass

from xshot.methods.peft_tuning import PeftConfig


@dataclass
class LoraMethodConfig(PeftConfig):
    """Hu et al. (2022) use lr 5e-4, rank 8 on RoBERTa-base; a linear head is the usual pairing."""

    learning_rate: float = 5e-4
    head: str = "linear"
    rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: str = "all-linear"  # or a comma-separated list of module names
