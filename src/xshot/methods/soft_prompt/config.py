from dataclasses import dataclass

from xshot.methods.base import option
from xshot.methods.peft_tuning import PeftConfig

INITS = ("text", "vocab", "random")


@dataclass
class SoftPromptConfig(PeftConfig):
    """Soft prompts need a far larger learning rate than full fine-tuning (Lester et al. use 0.3 with
    Adafactor; 3e-2 is the usual AdamW equivalent). Park et al. (2023) pair them with verbalizer scoring."""

    learning_rate: float = option(3e-2, "peak learning rate of AdamW", minimum=0)
    num_virtual_tokens: int = option(20, "virtual tokens prepended to the input", minimum=1)
    init: str = option("text", "initialisation: text (a task description), vocab (random words), random",
                       choices=INITS)
    init_text: str | None = option(None, "the initialising text (default: a task description)")
