"""Prompt tuning (Lester et al. 2021): trainable virtual tokens before a frozen backbone."""

from xshot.methods.soft_prompt.config import SoftPromptConfig
from xshot.methods.soft_prompt.model import build

__all__ = ["SoftPromptConfig", "build"]
