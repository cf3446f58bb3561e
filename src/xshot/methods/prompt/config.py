from dataclasses import dataclass

from xshot.methods.base import MethodConfig, option

VERBALIZER_LANGUAGES = ("source", "target")


@dataclass
class PromptConfig(MethodConfig):
    """LM-BFF (Gao et al. 2021) trains prompt-based fine-tuning with lr 1e-5, batch 8."""

    learning_rate: float = option(1e-5, "peak learning rate of AdamW", minimum=0)
    template: str | None = option(None, "NLI template with {premise} {hypothesis} (and {mask} on encoders); "
                                        "default: resources/prompts.yaml per backbone kind")
    label_words: dict[str, str] = option({}, "class → label word overrides")
    verbalizer_language: str = option("source", "source: the training language's label words everywhere; "
                                                "target: each evaluation language's own words",
                                      choices=VERBALIZER_LANGUAGES)
    prompts_file: str | None = option(None, "a prompts YAML replacing resources/prompts.yaml")

    @property
    def uses_lm_head(self) -> bool:
        return True
