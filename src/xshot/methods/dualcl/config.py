from dataclasses import dataclass

from xshot.methods.base import MethodConfig


@dataclass
class DualCLConfig(MethodConfig):
    """The reference implementation's values: alpha 0.5, tau 0.1; lr as for fine-tuning."""

    learning_rate: float = 3e-5
    alpha: float = 0.5
    temperature: float = 0.1
    o_ratio: float = 1.0  # NER: O words kept in the contrastive terms per entity word
    min_o: int = 8  # NER: O words kept when a batch has few entities
    prompts_file: str | None = None
    # classifier logits: "dot" = z . theta as in the paper; "cosine" = cos(z, theta) / temperature, which
    # decoders need (their final hidden states have norms near 100, so dot products reach ~10^4);
    # "auto" = dot on encoders, cosine on decoders
    similarity: str = "auto"
