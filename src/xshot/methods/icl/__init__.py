"""In-context learning: K-shot demonstrations before each test input, scored by a decoder's LM head."""

from xshot.methods import Cost, Method
from xshot.methods.icl.config import ICLConfig
from xshot.methods.icl.model import ICLModel, build

#: cost: inference only; the shared demonstrations are encoded once per language (about zero-shot's cost)
METHOD = Method(ICLConfig, build, Cost(step_s=0.0, eval_s=0.025), __doc__,
                family="prompting", display_name="in-context learning")

__all__ = ["ICLConfig", "ICLModel", "build"]
