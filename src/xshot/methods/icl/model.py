"""In-context learning: a fixed, seeded set of demonstrations before every test input.

Each demonstration is the task's template filled with one shot, followed by the shot's label word as
the verbalizer says it in the evaluation language (with a ``{label}`` template: the shot's sentence with its
gold label word inside, and each class's sentence is scored whole, see ``methods/prompt/sentences.py``); they are tokenized one by one and joined by the
separator after the tokenizer's own prefix (BOS), so the test prompt is unchanged at the end and its
label words are scored exactly as in zero-shot (and calibrated the same way, demonstrations included).
An input too long for ``max_length`` drops demonstrations, farthest first, never its own text; each
evaluation records how many inputs did.

Every input of an evaluation starts with the same BOS + demonstrations, so (``cache_demonstrations``)
they are encoded once and their keys and values reused for each batch: a batch whose rows all start
with them runs the body on the rest only, which makes four demonstrations per class cost about what a
zero-shot prompt costs. Rows that dropped demonstrations take the full forward pass.
"""

from __future__ import annotations

import copy
import random

import torch

from xshot.backbone import Backbone
from xshot.data.examples import NLIExample
from xshot.errors import XshotError
from xshot.methods.base import LabelSpace
from xshot.methods.icl.config import ICLConfig
from xshot.methods.zero_shot.model import ZeroShotModel


def choose_demonstrations(pool: list[NLIExample], classes: tuple[str, ...], per_class: int, order: str,
                          seed: int) -> list[NLIExample]:
    """``per_class`` shots of each class (fewer if the pool has fewer), in a seeded random or round-robin order."""
    rng = random.Random(seed)
    members = {c: [ex for ex in pool if ex.label == c] for c in classes}
    by_class = {c: rng.sample(members[c], min(per_class, len(members[c]))) for c in classes}
    if order == "round-robin":
        return [by_class[c][i] for i in range(per_class) for c in classes if i < len(by_class[c])]
    chosen = [ex for c in classes for ex in by_class[c]]
    rng.shuffle(chosen)
    return chosen


class ICLModel(ZeroShotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: ICLConfig, max_length: int,
                 source_language: str | None = None):
        self._pools: dict[str | None, tuple[list[NLIExample], int]] = {}
        self._shown: list[NLIExample] = []
        self._prefix_state: tuple[torch.Tensor, object] | None = None  # the demonstrations' states and cache
        super().__init__(backbone, labels, config, max_length, source_language)
        self.input_format.demo_separator = backbone.tokenizer(config.demo_separator, add_special_tokens=False)["input_ids"]

    def hidden_states(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        shared = self._shared_prefix(ids.device)
        n = 0 if shared is None else shared.numel()
        if n == 0 or ids.size(1) <= n or not bool((ids[:, :n] == shared).all()):
            return super().hidden_states(batch)
        if self._prefix_state is None or self._prefix_state[0].device != ids.device:
            out = self.body(input_ids=shared[None], use_cache=True)
            self._prefix_state = (out.last_hidden_state, out.past_key_values)
        prefix_hidden, cache = self._prefix_state
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(ids.size(0))
        out = self.body(input_ids=ids[:, n:], attention_mask=batch["attention_mask"], past_key_values=past,
                        use_cache=True)
        return torch.cat([prefix_hidden.expand(ids.size(0), -1, -1), out.last_hidden_state], dim=1)

    def _shared_prefix(self, device: torch.device) -> torch.Tensor | None:
        if not self.config.cache_demonstrations or not self.input_format.demonstrations:
            return None
        return torch.tensor(self.input_format.demonstration_prefix(), device=device)

    def observe_shots(self, examples: list, language: str | None, seed: int) -> None:
        self._pools[language] = (list(examples), seed)

    def set_language(self, language: str | None) -> None:
        super().set_language(language)
        self._prefix_state = None
        if not self._pools:  # before any shots (construction): nothing to show yet
            return
        key = language if self.config.demo_language == "target" else self.source_language
        if key not in self._pools:
            raise XshotError(f"icl: no demonstration shots for language {key!r}")
        pool, seed = self._pools[key]
        self._shown = choose_demonstrations(pool, self.labels.classes, self.config.demonstrations,
                                            self.config.demo_order, seed)
        words = dict(zip(self.labels.classes, self.label_words))  # the verbalizer set for this language
        fmt, tok = self.input_format, self.backbone.tokenizer
        if fmt.sequence is not None:  # whole-sentence scoring: each demonstration is its gold label's sentence
            texts = [fmt.sequence.fill(fmt.template, ex.premise, ex.hypothesis, words[ex.label]) for ex in self._shown]
        else:
            texts = [fmt.template.format(premise=ex.premise, hypothesis=ex.hypothesis, mask="")
                     + self.backbone.word_prefix + words[ex.label] for ex in self._shown]
        fmt.demonstrations = tok(texts, add_special_tokens=False)["input_ids"] if texts else []

    def encoding_extras(self):
        return {"demonstrations_dropped": lambda: self.input_format.demonstrations_dropped,
                "demonstrations_shown": lambda: self.input_format.demonstrations_shown}

    def evaluation_notes(self) -> list[str]:
        shown = ", ".join(ex.label for ex in self._shown)
        return [f"{len(self._shown)} in-context demonstrations ({self.config.demo_order} order, "
                f"{self.config.demo_language} language): {shown}", *super().evaluation_notes()]


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: ICLConfig,
          *, max_length: int, source_language: str | None = None) -> ICLModel:
    return ICLModel(backbone, LabelSpace.for_task(task, entity_types, "io"), config, max_length, source_language)
