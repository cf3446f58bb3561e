from dataclasses import dataclass

from xshot.methods.peft_tuning import PeftConfig


@dataclass
class SoftPromptConfig(PeftConfig):
    """Soft prompts need a far larger learning rate than full fine-tuning (Lester et al. use 0.3 with
    Adafactor; 3e-2 is the usual AdamW equivalent). Park et al. (2023) pair them with verbalizer scoring."""

    learning_rate: float = 3e-2
    head: str = "verbalizer"
    num_virtual_tokens: int = 20
    init: str = "text"  # text | vocab | random
    init_text: str | None = None  # default: a task description
