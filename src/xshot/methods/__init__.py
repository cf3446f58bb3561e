"""The registry of adaptation methods: a name → everything xshot needs to know about the method.

Each method is one small package (``config.py`` with literature defaults, ``model.py`` with
``build``) whose ``__init__`` declares its :class:`Cost` (for ``xshot plan``) beside its config class
and builder. Adding a method means adding its package and one line to ``_METHODS``; the CLI help,
the study schema, the planner and the report's method order all read this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from xshot.errors import XshotError

#: name → (package, config class); the order is the display order of tables and figures
_METHODS = {
    "zero-shot": ("xshot.methods.zero_shot", "ZeroShotConfig"),
    "icl": ("xshot.methods.icl", "ICLConfig"),
    "finetune": ("xshot.methods.finetune", "FinetuneConfig"),
    "prompt": ("xshot.methods.prompt", "PromptConfig"),
    "soft-prompt": ("xshot.methods.soft_prompt", "SoftPromptConfig"),
    "prefix": ("xshot.methods.prefix", "PrefixConfig"),
    "lora": ("xshot.methods.lora", "LoraMethodConfig"),
    "ia3": ("xshot.methods.ia3", "IA3MethodConfig"),
    "dualcl": ("xshot.methods.dualcl", "DualCLConfig"),
}
METHOD_NAMES: tuple[str, ...] = tuple(_METHODS)
BASELINE_METHOD = "finetune"


@dataclass(frozen=True)
class Cost:
    """A method's unit costs for ``xshot plan``: 110M-parameter model, batch 16, 2-core CPU, fp32.

    ``trains`` is False for methods that take no optimisation step (their training budget is ignored).
    """

    step_s: float
    eval_s: float
    trains: bool = True


@dataclass(frozen=True)
class Method:
    name: str
    config_class: type
    build: Callable
    description: str
    cost: Cost


def get_method(name: str) -> Method:
    if name not in _METHODS:
        raise XshotError(f"unknown method {name!r}; available: {', '.join(METHOD_NAMES)}")
    module_name, config_name = _METHODS[name]
    module = importlib.import_module(module_name)
    description = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return Method(name, getattr(module, config_name), module.build, description, module.COST)
