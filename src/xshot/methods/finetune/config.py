from dataclasses import dataclass

from xshot.methods.base import MethodConfig, option


@dataclass
class FinetuneConfig(MethodConfig):
    """Few-shot fine-tuning defaults (Mosbach et al. 2021; LM-BFF's baseline uses 1e-5 for 1000 steps;
    with fewer steps a slightly larger rate converges)."""

    learning_rate: float = option(3e-5, "peak learning rate of AdamW", minimum=0)
