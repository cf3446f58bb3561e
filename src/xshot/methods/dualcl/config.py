from dataclasses import dataclass

from xshot.errors import XshotError
from xshot.methods.base import MethodConfig, option


@dataclass
class DualCLConfig(MethodConfig):
    """The reference implementation's values: alpha 0.5, tau 0.1; lr as for fine-tuning."""

    learning_rate: float = option(3e-5, "peak learning rate of AdamW", minimum=0)
    alpha: float = option(0.5, "weight of the contrastive terms: (1 - alpha) CE + alpha/2 (L_z + L_theta)",
                          minimum=0, maximum=1)
    temperature: float = option(0.1, "temperature tau of the contrastive terms", minimum=1e-6)
    o_ratio: float = option(1.0, "NER: O words kept in the contrastive terms per entity word", minimum=0)
    min_o: int = option(8, "NER: O words kept when a batch has few entities", minimum=0)
    prompts_file: str | None = option(None, "a prompts YAML whose label_names replace the built-in ones")
    loss: str = option("dual", "dual: the paper's objective; ce, scl: its baselines as the reference code runs "
                               "them, a linear head on the first token trained with cross-entropy alone (ce) or "
                               "(1 - alpha) CE + alpha x the supervised contrast of the features at temperature "
                               "tau (scl, Gunel et al. 2021)", choices=("dual", "ce", "scl"))
    # the reference code puts [CLS] and every (single-token) label at position 0 and the text from 1;
    # multilingual vocabularies split label names into several sub-tokens, whose order shared positions
    # would erase, so xshot numbers them in sequence by default
    label_positions: str = option("sequential", "position ids of the prepended label names: sequential, or "
                                                "shared (all at the first position, as the reference code)",
                                  choices=("sequential", "shared"))
    # "dot" = z . theta as in the paper; "cosine" = cos(z, theta) / temperature, which decoders need (their
    # final hidden states have norms near 100, so dot products reach ~10^4)
    # NER: one tag scheme for all three losses, so that comparing them compares losses only. The dual loss
    # needs one label name per class, i.e. one per entity type (IO); the baselines default to IO as well and
    # may tag BIO (the finetune method's scheme) when asked
    ner_tags: str = option("io", "NER: the tag scheme of every loss: io (one class per entity type, what the dual "
                                 "loss's label names need) or bio (ce and scl only)", choices=("io", "bio"))
    similarity: str = option("auto", "classifier logits: dot (the paper), cosine, or auto (dot on encoders, "
                                     "cosine on decoders)", choices=("auto", "dot", "cosine"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss == "dual" and self.ner_tags != "io":
            raise XshotError("option ner_tags bio is for loss ce or scl: the dual loss classifies with one label "
                             "name per entity type (io)")
