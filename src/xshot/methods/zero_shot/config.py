from dataclasses import dataclass
from typing import ClassVar

from xshot.errors import XshotError
from xshot.methods.base import option
from xshot.methods.prompt.config import PromptConfig

#: Zhao et al. (2021) average the label probabilities of these three content-free inputs
CONTENT_FREE = ["N/A", "", "[MASK]"]


@dataclass
class ZeroShotConfig(PromptConfig):
    """The template and verbalizer of ``prompt``, scored by the pretrained LM head without training.

    ``calibrate`` is contextual calibration (Zhao et al. 2021, "Calibrate before use"): the label-word
    probabilities, renormalised over the classes, are divided by their mean over content-free inputs
    (premise and hypothesis both "N/A", "" and "[MASK]", the paper's three), i.e. W = diag(p_cf)^-1, b = 0.
    """

    trains: ClassVar[bool] = False
    needs_pretrained_lm_head: ClassVar[bool] = True

    calibrate: bool = option(False, "NLI: contextual calibration by content-free inputs (Zhao et al. 2021)")
    content_free: list[str] = option(list(CONTENT_FREE), "the content-free inputs of the calibration")
    # EntLM's full-vocabulary decoding needs its virtual label tokens trained; untrained, scoring is restricted
    ner_objective: str = option("restricted", "NER: a softmax over {own token, label words} at each word's first "
                                              "sub-token (the only scoring without training)", choices=("restricted",))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.searches_label_words:
            raise XshotError("option label_words=search trains on the shots; use it with prompt")
        if self.lm_bff_demonstrations:
            raise XshotError("LM-BFF demonstrations are for prompt; in-context demonstrations are the icl method")
        if self.calibrate and not self.content_free:
            raise XshotError("option content_free: calibration needs at least one content-free input")

    def check_task(self, task: str) -> None:
        if self.calibrate and task != "nli":
            raise XshotError("option calibrate is for NLI (label-word classification); NER prompts are not calibrated")
