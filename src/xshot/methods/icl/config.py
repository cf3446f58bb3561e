from dataclasses import dataclass

from xshot.errors import XshotError
from xshot.methods.base import option
from xshot.methods.zero_shot.config import ZeroShotConfig

DEMO_ORDERS = ("random", "round-robin")
DEMO_LANGUAGES = ("source", "target")


@dataclass
class ICLConfig(ZeroShotConfig):
    """In-context learning as in GPT-3 (Brown et al. 2020) and XGLM's multilingual setting (Lin et al. 2022).

    Demonstrations are drawn, balanced per class and seeded, from the K-shot sample (so seeds differ in
    their demonstrations, the variance ICL is known for) and fixed for the whole evaluation, each one
    the template filled with a shot and followed by its label word; the test input comes last.
    """

    demonstrations: int = option(1, "demonstrations per class in each prompt", minimum=1)
    demo_order: str = option("random", "random: a seeded shuffle; round-robin: the classes in turn",
                             choices=DEMO_ORDERS)
    demo_language: str = option("source", "source: the training shots; target: K shots of each evaluation "
                                          "language, drawn from the same dataset and split", choices=DEMO_LANGUAGES)
    demo_separator: str = option("\n\n", "text between demonstrations and before the test input")
    cache_demonstrations: bool = option(True, "encode the shared demonstrations once and reuse their keys and "
                                              "values for every input (same scores up to rounding)")

    @property
    def wants_target_shots(self) -> bool:
        return self.demo_language == "target"

    def check_task(self, task: str) -> None:
        if task != "nli":
            raise XshotError("icl supports NLI only; for NER use zero-shot (EntLM scoring) or a trained method")
        super().check_task(task)

    def check_backbone(self, kind: str, has_lm_head: bool) -> None:
        if kind != "decoder":
            raise XshotError("icl needs a decoder (a causal LM); on an encoder use zero-shot or prompt")
        super().check_backbone(kind, has_lm_head)
