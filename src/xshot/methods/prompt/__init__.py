"""Prompt-based fine-tuning: LM-BFF/PET cloze prompts for NLI, EntLM for NER; all parameters trained."""

from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.model import PromptModel, build

__all__ = ["PromptConfig", "PromptModel", "build"]
