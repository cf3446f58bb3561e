"""Prompt-based fine-tuning: LM-BFF/PET cloze prompts for NLI, EntLM for NER; all parameters trained."""

from xshot.methods import Cost, Method
from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.model import PromptModel, build

#: cost: benchmarks/study_throughput.py --steps 20 --eval-limit 50 (its 'exact_unit_costs'): XNLI on gemma3-270m, NER
#: on me5-small, 2 threads, bf16, scaled to fp32 by plan.BF16_SPEEDUP (benchmarks/results/plan_units.json, plan_units_peft.json)
METHOD = Method(PromptConfig, build, Cost(step_s=0.53, eval_s=0.018, ner_step_s=0.18, ner_eval_s=0.0076), __doc__,
                family="prompting", display_name="prompt-based fine-tuning")

__all__ = ["PromptConfig", "PromptModel", "build"]
