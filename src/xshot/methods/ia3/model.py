"""(IA)³ through peft's ``IA3Config``, on the modules the paper rescales."""

from __future__ import annotations

import re

from torch import nn

from xshot.backbone import Backbone
from xshot.errors import XshotError
from xshot.methods.base import XshotModel
from xshot.methods.ia3.config import IA3MethodConfig
from xshot.methods.peft_tuning import scored_model, wrap

#: (keys/values/feed-forward targets, feed-forward targets) by module naming convention
_PATTERNS = (
    (r".*\.attention\.self\.(key|value)|.*\.layer\.\d+\.output\.dense", r".*\.layer\.\d+\.output\.dense"),  # BERT, XLM-R
    (r".*\.(k_proj|v_proj|down_proj)", r".*\.down_proj"),  # LLaMA, Gemma, Qwen, Mistral ...
)


def paper_targets(body: nn.Module) -> tuple[str, str]:
    """The regular expressions matching keys, values and feed-forward output matrices of ``body``."""
    names = [n for n, m in body.named_modules() if isinstance(m, nn.Linear)]
    for targets, feedforward in _PATTERNS:
        hits = [n for n in names if re.fullmatch(targets, n)]
        if hits and any(re.fullmatch(feedforward, n) for n in hits):
            return targets, feedforward
    raise XshotError(f"ia3: cannot find keys, values and feed-forward layers in {type(body).__name__}; "
                     "set options target_modules and feedforward_modules (regular expressions)")


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: IA3MethodConfig,
          **kwargs) -> XshotModel:
    from peft import IA3Config

    model = scored_model(backbone, task, entity_types, config, **kwargs)
    targets, feedforward = config.target_modules, config.feedforward_modules
    if "auto" in (targets, feedforward):
        auto_targets, auto_feedforward = paper_targets(model.body)
        targets = auto_targets if targets == "auto" else targets
        feedforward = auto_feedforward if feedforward == "auto" else feedforward
    peft_config = IA3Config(task_type="FEATURE_EXTRACTION", target_modules=targets, feedforward_modules=feedforward)
    return wrap(model, peft_config)
