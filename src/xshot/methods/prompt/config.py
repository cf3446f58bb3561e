from dataclasses import dataclass, field

from xshot.methods.base import MethodConfig


@dataclass
class PromptConfig(MethodConfig):
    """LM-BFF (Gao et al. 2021) trains prompt-based fine-tuning with lr 1e-5, batch 8."""

    learning_rate: float = 1e-5
    template: str | None = None  # default: resources/prompts.yaml per backbone kind
    label_words: dict[str, str] = field(default_factory=dict)  # class → word overrides
    verbalizer_language: str = "source"  # "source": the training language's words everywhere; "target"
    prompts_file: str | None = None

    @property
    def uses_lm_head(self) -> bool:
        return True
