"""The registry of adaptation methods: a name → everything xshot needs to know about the method.

Each method is one small package (``config.py`` with literature defaults and checked options,
``model.py`` with ``build``) whose ``__init__`` declares ``METHOD = Method(config class, builder,
cost, description)``. Adding a method means adding its package and its name to ``METHODS`` below;
the CLI help, the study schema, the planner and the report's method order all read this registry,
and the registration order is the display order of tables and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xshot.registry import Registry


#: a method's NER unit costs against its NLI ones where it was not measured on NER: fine-tuning's ratio (one short
#: sentence against a premise-hypothesis pair, on the cells of benchmarks/study_throughput.py)
NER_OVER_NLI = (0.67, 0.75)


@dataclass(frozen=True)
class Cost:
    """A method's unit costs for ``xshot plan``: seconds per training step at batch 16 (``step_s``) and per
    evaluated example (``eval_s``) of an XNLI pair, and of a NER sentence (``ner_step_s``, ``ner_eval_s``;
    :data:`NER_OVER_NLI` times the NLI ones when not given), for a model of size factor 1
    (``studies.plan.model_size_factor``, about me5-small) on a 2-core CPU in fp32.

    The training budget of a method whose config says it does not train (``trains``) is ignored.
    """

    step_s: float
    eval_s: float
    ner_step_s: float | None = None
    ner_eval_s: float | None = None

    def unit(self, task: str) -> tuple[float, float]:
        """(seconds per training step, per evaluated example) of ``task``."""
        if task != "ner":
            return self.step_s, self.eval_s
        step = self.ner_step_s if self.ner_step_s is not None else self.step_s * NER_OVER_NLI[0]
        return step, self.ner_eval_s if self.ner_eval_s is not None else self.eval_s * NER_OVER_NLI[1]


#: what a method is, for the report's default comparisons (the founding question: DualCL against the
#: prompting family, which takes in parameter-efficient tuning, and every method against the baseline)
FAMILIES = ("baseline", "prompting", "peft", "contrastive")


@dataclass(frozen=True)
class Method:
    """What a method package declares about itself (``description``: its docstring's first line; ``family``:
    one of :data:`FAMILIES`; ``display_name``: how the report's sentences name it)."""

    config_class: type
    build: Callable
    cost: Cost
    doc: str | None = None
    family: str = "baseline"
    display_name: str = ""
    #: the tasks whose trained model ``xshot export`` writes as a plain transformers sequence classifier
    #: (jointly encoded NLI pairs through the architecture's own head); others keep xshot's checkpoint
    exports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"method family {self.family!r} is not one of {', '.join(FAMILIES)}")

    @property
    def prompting(self) -> bool:
        """On the prompting side of the founding question (prompting and parameter-efficient tuning)."""
        return self.family in ("prompting", "peft")

    @property
    def description(self) -> str:
        return (self.doc or "").strip().split("\n", 1)[0]


METHODS: Registry[Method] = Registry("method")
#: the method packages, in display order; each is registered under its name with "-" for "_"
METHODS.add_modules("xshot.methods", ("zero_shot", "icl", "finetune", "prompt", "soft_prompt", "prefix", "lora", "ia3",
                                      "dualcl"), "METHOD")

#: the method every other is compared with in the report's gains and findings
BASELINE_METHOD = "finetune"


def get_method(name: str) -> Method:
    return METHODS.get(name)


def method_names() -> tuple[str, ...]:
    return METHODS.names()


def display_name(name: str) -> str:
    """How sentences name a method (its registration's ``display_name``); any other name as it is."""
    return (METHODS.get(name).display_name or name) if name in METHODS else name
