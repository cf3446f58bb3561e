"""Zero-shot prompting: the pretrained LM head scores the task's prompt; nothing is trained."""

from xshot.methods import Cost, Method
from xshot.methods.zero_shot.config import ZeroShotConfig
from xshot.methods.zero_shot.model import ZeroShotModel, build

#: cost: inference only, prompt's evaluation
METHOD = Method(ZeroShotConfig, build, Cost(step_s=0.0, eval_s=0.02), __doc__,
                family="prompting", display_name="zero-shot prompting")

__all__ = ["ZeroShotConfig", "ZeroShotModel", "build"]
