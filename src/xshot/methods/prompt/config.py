from dataclasses import dataclass
from typing import Any

from xshot.errors import XshotError
from xshot.methods.base import MethodConfig, option

VERBALIZER_LANGUAGES = ("source", "target")
DEMONSTRATIONS = ("none", "random", "similar")
LABEL_WORD_CHOICES = ("names", "search")
NER_OBJECTIVES = ("full", "restricted")
#: xshot plan: the share of a whole-sentence class's tokens scored through the whole vocabulary (the label word and
#: the hypothesis after it; XNLI's premises are about as long as its hypotheses)
WHOLE_SENTENCE_SCORED = 0.5


@dataclass
class PromptConfig(MethodConfig):
    """LM-BFF (Gao et al. 2021) trains prompt-based fine-tuning with lr 1e-5, batch 8; on NER, EntLM
    (Ma et al. 2022)."""

    learning_rate: float = option(1e-5, "peak learning rate of AdamW", minimum=0)
    template: str | None = option(None, "NLI template with {premise} {hypothesis} (and {mask} on encoders; {label} "
                                        "on decoders: whole-sentence scoring), or a named template (xglm); "
                                        "default: resources/prompts.yaml per backbone kind")
    label_words: Any = option("names", "names: the verbalizer's words (resources/prompts.yaml); search: chosen "
                                       "from the shots (NLI: LM-BFF's automatic search; NER: EntLM's most frequent "
                                       "entity words); or a mapping class -> word overriding the names")
    verbalizer_language: str = option("source", "source: the training language's label words everywhere; "
                                                "target: each evaluation language's own words",
                                      choices=VERBALIZER_LANGUAGES)
    prompts_file: str | None = option(None, "a prompts YAML replacing resources/prompts.yaml")
    sequence_score: str = option("sum", "decoders, a {label} template: score each class's sentence by the sum "
                                        "(lm-evaluation-harness's acc) or the mean of its tokens' log-probabilities "
                                        "(prompt trains cross-entropy over these scores)", choices=("sum", "mean"))
    # -- LM-BFF demonstrations (NLI) --
    demonstrations: str = option("none", "NLI: one demonstration per class after the input (LM-BFF): random, or "
                                         "similar (drawn from the half of each class most similar to the input)",
                                 choices=DEMONSTRATIONS)
    demo_sets: int = option(4, "demonstration sets per test input, class log-probabilities averaged (LM-BFF's "
                               "script: 4 on MNLI-sized inputs, 16 elsewhere)", minimum=1)
    demo_encoder: str | None = option(None, "similar: the sentence encoder of the similarity (LM-BFF: SBERT); "
                                            "default: the run's own pretrained backbone, mean-pooled")
    demo_filter_rate: float = option(0.5, "similar: share of each class's most similar shots to draw from",
                                     minimum=0.01, maximum=1)
    # -- label-word search --
    search_words: int = option(20, "NLI search: candidate words per class by zero-shot likelihood (LM-BFF k: 100)",
                               minimum=1)
    search_candidates: int = option(4, "NLI search: best assignments by zero-shot accuracy on the shots that are "
                                       "cross-validated (LM-BFF n: 100, re-ranked on a dev set)", minimum=1)
    search_folds: int = option(2, "NLI search: folds of the shots that re-rank the assignments", minimum=2)
    search_steps: int | None = option(None, "NLI search: training steps per fold (default: the run's)", minimum=1)
    entity_words: int = option(6, "NER search: label words per entity type (EntLM: 6)", minimum=1)
    entity_ratio: float = option(0.6, "NER search: a word counts for a type only if more than this share of its "
                                      "occurrences has that type (EntLM: 0.6)", minimum=0, maximum=1)
    label_word_corpus: str | None = option(None, "NER search: a labelled or distantly labelled dataset spec to "
                                                 "count entity words in (e.g. wikiann:en:train), instead of the shots")
    # -- EntLM --
    ner_objective: str = option("full", "NER: EntLM's LM loss over the whole vocabulary at every token with one "
                                        "virtual label token per type (full), or a softmax over {own token, label "
                                        "words} at each word's first sub-token (restricted)", choices=NER_OBJECTIVES)

    def __post_init__(self) -> None:
        super().__post_init__()
        words = self.label_words
        if isinstance(words, str) and words not in LABEL_WORD_CHOICES:
            raise XshotError(f"option label_words must be names, search or a mapping class -> word, not {words!r}")
        if not isinstance(words, (str, dict)):
            raise XshotError(f"option label_words must be names, search or a mapping class -> word, not {words!r}")
        if self.searches_label_words and self.verbalizer_language == "target":
            raise XshotError("option label_words=search chooses source-language words; it cannot be combined with "
                             "verbalizer_language=target")
        if self.searches_label_words and self.demonstrations != "none":
            # the search scores its candidates by cross-validation on the shots without demonstrations, so the
            # words it chose would not be chosen for the inputs the run trains and scores
            raise XshotError("option label_words=search scores its candidates without demonstrations; it cannot be "
                             f"combined with demonstrations={self.demonstrations} (choose the words in a run without "
                             "them and give them as label_words)")

    @property
    def uses_lm_head(self) -> bool:
        return True

    @property
    def lm_bff_demonstrations(self) -> bool:
        """Whether LM-BFF demonstrations are on (``icl`` reuses the option name for its own count)."""
        return isinstance(self.demonstrations, str) and self.demonstrations != "none"

    @property
    def needs_shots_at_test(self) -> bool:
        return not self.trains or self.lm_bff_demonstrations

    @property
    def searches_label_words(self) -> bool:
        return self.label_words == "search"

    @property
    def word_overrides(self) -> dict[str, str]:
        return self.label_words if isinstance(self.label_words, dict) else {}

    def cost_factors(self, task: str, steps: int) -> tuple[int, float, float]:
        search = 0
        if self.searches_label_words and task == "nli" and self.search_candidates > 1:
            search = self.search_candidates * self.search_folds * (self.search_steps or steps)
        if self.lm_bff_demonstrations:  # inputs about 3x longer (measured on gemma3-270m), each test input sets x
            return search, 3.0, 3.0 * self.demo_sets
        if self.scores_whole_sentences(task):  # one sentence per class (3) through the body
            return search, 3.0, 3.0
        return search, 1.0, 1.0

    def vocabulary_share(self, task: str) -> float:
        if task == "ner" and self.ner_objective == "full":
            return 1.0
        return WHOLE_SENTENCE_SCORED if self.scores_whole_sentences(task) else 0.0

    def scores_whole_sentences(self, task: str) -> bool:
        """Whether the template has a {label} slot (XGLM's scoring: each class's sentence, every token after the
        shared start through the whole vocabulary)."""
        from xshot.methods.prompts import LABEL_SLOT, named_template

        if task != "nli" or self.template is None:
            return False
        named = named_template(self.template, self.prompts_file)
        return LABEL_SLOT in (named.text if named else self.template)

    def check_backbone(self, kind: str, has_lm_head: bool) -> None:
        """A given template must suit the backbone's kind (encoders answer at {mask}, decoders at the end)."""
        super().check_backbone(kind, has_lm_head)
        if self.template is not None:
            from xshot.methods.prompts import template

            template(kind, self.template, self.prompts_file)

    def check_task(self, task: str) -> None:
        if self.lm_bff_demonstrations and task != "nli":
            raise XshotError("option demonstrations is for NLI (LM-BFF); NER prompts (EntLM) have no template")
