"""The registry of adaptation methods: a name → everything xshot needs to know about the method.

Each method is one small package (``config.py`` with literature defaults and checked options,
``model.py`` with ``build``) whose ``__init__`` declares ``METHOD = Method(config class, builder,
cost, description)``. Adding a method means adding its package and one ``METHODS.add`` line below;
the CLI help, the study schema, the planner and the report's method order all read this registry,
and the registration order is the display order of tables and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xshot.registry import Registry


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
    """What a method package declares about itself (``description``: its docstring's first line)."""

    config_class: type
    build: Callable
    cost: Cost
    doc: str | None = None

    @property
    def description(self) -> str:
        return (self.doc or "").strip().split("\n", 1)[0]


METHODS: Registry[Method] = Registry("method")
METHODS.add("zero-shot", "xshot.methods.zero_shot:METHOD")
METHODS.add("icl", "xshot.methods.icl:METHOD")
METHODS.add("finetune", "xshot.methods.finetune:METHOD")
METHODS.add("prompt", "xshot.methods.prompt:METHOD")
METHODS.add("soft-prompt", "xshot.methods.soft_prompt:METHOD")
METHODS.add("prefix", "xshot.methods.prefix:METHOD")
METHODS.add("lora", "xshot.methods.lora:METHOD")
METHODS.add("ia3", "xshot.methods.ia3:METHOD")
METHODS.add("dualcl", "xshot.methods.dualcl:METHOD")

#: the method every other is compared with in the report's gains and findings
BASELINE_METHOD = "finetune"


def get_method(name: str) -> Method:
    return METHODS.get(name)


def method_names() -> tuple[str, ...]:
    return METHODS.names()
