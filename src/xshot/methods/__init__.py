"""The registry of adaptation methods: a name → its config class and its model builder.

Each method is one small package (``config.py`` with literature defaults, ``model.py`` with
``build``); adding a method means adding its package and one line to ``_METHODS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from xshot.errors import XshotError

_METHODS = {
    "finetune": ("xshot.methods.finetune", "FinetuneConfig"),
    "prompt": ("xshot.methods.prompt", "PromptConfig"),
    "soft-prompt": ("xshot.methods.soft_prompt", "SoftPromptConfig"),
    "lora": ("xshot.methods.lora", "LoraMethodConfig"),
    "dualcl": ("xshot.methods.dualcl", "DualCLConfig"),
}
METHOD_NAMES: tuple[str, ...] = tuple(_METHODS)


@dataclass(frozen=True)
class Method:
    name: str
    config_class: type
    build: Callable
    description: str


def get_method(name: str) -> Method:
    if name not in _METHODS:
        raise XshotError(f"unknown method {name!r}; available: {', '.join(METHOD_NAMES)}")
    module_name, config_name = _METHODS[name]
    module = importlib.import_module(module_name)
    return Method(name, getattr(module, config_name), module.build, (module.__doc__ or "").strip())
