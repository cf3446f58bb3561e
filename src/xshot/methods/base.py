"""What every method shares: its hyper-parameters, the label space and the scored model.

A method is a :class:`MethodConfig` (literature defaults, overridable per run) plus a ``build``
function returning an :class:`XshotModel`. The model maps a padded batch to class logits at the
scored positions (``[B, C]`` for NLI, ``[B, P, C]`` for NER words) and to a training loss, so the
trainer, the evaluator and the CLI never need to know which method they run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.data.examples import NLI_LABELS
from xshot.errors import XshotError
from xshot.methods.inputs import Feature, InputFormat
from xshot.results import CandidateScore, ShotChoice

Scheme = Literal["io", "bio"]
PAIR_ENCODINGS = ("cross", "siamese")


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None) -> Any:
    """A config field with its help text and its checks, which :class:`MethodConfig` applies in one place."""
    metadata = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


#: the options a training reads each time it starts (the optimiser's and the step count); every other option
#: shapes the model when it is built, so a search over one would train every candidate with the same model
SEARCHABLE_OPTIONS = ("learning_rate", "batch_size", "max_steps", "warmup_ratio", "weight_decay", "max_grad_norm",
                      "grad_accumulation")


def unsearchable_error(name: str) -> str:
    """Why ``search:`` refuses an option that shapes the model (empty for one it can search)."""
    if name in SEARCHABLE_OPTIONS:
        return ""
    return (f"search: {name} is fixed when the model is built, so every candidate would train the same model; "
            f"search only the training options ({', '.join(SEARCHABLE_OPTIONS)}) or run one setting per value")


@dataclass
class MethodConfig:
    """Optimisation defaults shared by all methods; each method overrides what the literature says."""

    #: False for methods that take no gradient step (zero-shot and in-context prompting)
    trains: ClassVar[bool] = True
    #: whether the method is meaningless without a pretrained LM head (no tied-embedding proxy)
    needs_pretrained_lm_head: ClassVar[bool] = False
    learning_rate: float = option(2e-5, "peak learning rate of AdamW", minimum=0)
    batch_size: int = option(8, "examples per optimisation step", minimum=1)
    max_steps: int = option(100, "optimisation steps (0: evaluate the untrained model)", minimum=0)
    warmup_ratio: float = option(0.1, "share of the steps with a linear warm-up", minimum=0, maximum=1)
    weight_decay: float = option(0.01, "AdamW weight decay of matrices", minimum=0)
    max_grad_norm: float = option(1.0, "gradient clipping norm", minimum=0)
    grad_accumulation: int = option(1, "batches accumulated per step", minimum=1)
    dropout: float = option(0.1, "dropout of new heads", minimum=0, maximum=1)
    # The word-embedding matrix is most of a multilingual model (96M of me5-small's 118M parameters).
    # Freezing it keeps the pretrained cross-lingual alignment of the vocabulary, which few target-language
    # words in an English training set would otherwise pull apart, and cuts optimiser memory and time 4x.
    freeze_embeddings: bool = option(True, "keep the word-embedding matrix frozen")
    # NLI only. "cross" encodes premise and hypothesis together (the literature's setting); "siamese"
    # encodes them apart (see ``methods.siamese``), for sentence-embedding backbones such as
    # multilingual-e5, whose joint pair encoding was never trained. Needs a linear head.
    pair_encoding: str = option("cross", "NLI: encode the pair together (cross) or apart (siamese)",
                                choices=PAIR_ENCODINGS)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            meta, value = f.metadata, getattr(self, f.name)
            if meta.get("choices") and value not in meta["choices"]:
                raise XshotError(f"option {f.name} must be one of {', '.join(map(str, meta['choices']))}, "
                                 f"not {value!r}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if meta.get("minimum") is not None and value < meta["minimum"]:
                    raise XshotError(f"option {f.name} must be at least {meta['minimum']}, not {value!r}")
                if meta.get("maximum") is not None and value > meta["maximum"]:
                    raise XshotError(f"option {f.name} must be at most {meta['maximum']}, not {value!r}")

    @property
    def uses_lm_head(self) -> bool:
        """Whether the backbone must be loaded with its pretrained LM head (verbalizer scoring)."""
        return False

    def cost_factors(self, task: str, steps: int) -> tuple[int, float, float]:
        """For ``xshot plan``: (training steps spent choosing on the shots before the run's own, cost of a
        training step and of an evaluated example relative to the method's plain ``Cost``)."""
        return 0, 1.0, 1.0

    def vocabulary_share(self, task: str) -> float:
        """For ``xshot plan``: the share of the tokens the body reads that go through the LM head's whole
        vocabulary (EntLM's objective: all; whole-sentence scoring: those after the classes' shared start), a
        product as large as the body's own on small multilingual models."""
        return 0.0

    @property
    def needs_shots_at_test(self) -> bool:
        """Whether predictions read the training shots (demonstrations), so a reloaded model redraws them."""
        return not self.trains

    @property
    def wants_target_shots(self) -> bool:
        """Whether each evaluation language needs its own K shots (in-context demonstrations in that language)."""
        return False

    def check_task(self, task: str) -> None:
        """Refuse a task the method cannot do, before any data or model loads."""

    def check_backbone(self, kind: str, has_lm_head: bool) -> None:
        """Refuse a backbone the method cannot use, after its config is read and before its weights load."""
        if self.needs_pretrained_lm_head and not has_lm_head:
            raise XshotError(f"{type(self).__name__.removesuffix('Config')} needs a pretrained LM head and this "
                             "backbone has none (tied-embedding scores have no zero-shot meaning); use a checkpoint "
                             "with an MLM or causal LM head, e.g. xlm-roberta-base")

    @classmethod
    def resolve(cls, overrides: dict[str, Any]) -> "MethodConfig":
        """Defaults updated by ``overrides``; an unknown option is an error naming the valid ones."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise XshotError(f"unknown option(s) {', '.join(unknown)} for this method; valid: {', '.join(sorted(names))}")
        return cls(**{k: _coerce(v, names[k]) for k, v in overrides.items()})


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(value: Any, f: dataclasses.Field) -> Any:
    """Options arrive as strings from the command line; convert them to the field's default type."""
    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, bool) and not isinstance(value, (bool, str)):
        raise XshotError(f"option {f.name}: expected true or false, not {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, bool):
        raise XshotError(f"option {f.name}: expected a number, not {value!r}")
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    if isinstance(default, bool):
        if value.lower() not in _TRUE + _FALSE:
            raise XshotError(f"option {f.name}: expected true or false, not {value!r}")
        return value.lower() in _TRUE
    try:
        return type(default)(value)
    except ValueError:
        raise XshotError(f"option {f.name}: cannot read {value!r} as {type(default).__name__}") from None


# -- choices made on the shots ------------------------------------------------------------------------
@dataclass
class Candidate:
    """One option of a choice a method makes on its shots. ``apply`` puts it into the model and may
    return the method config to train it with (None: the run's own)."""

    name: str
    apply: Callable[["XshotModel"], "MethodConfig | None"]


#: scores each candidate by K-fold cross-validation on the shots (``xshot.training.selection.CrossValidation``)
CrossValidate = Callable[[list[Candidate], int], list[CandidateScore]]


@dataclass
class Shots:
    """What a method may look at before it trains: its training shots, and tools that see nothing else."""

    examples: list
    language: str | None
    seed: int
    cross_validate: CrossValidate
    load_examples: Callable[[str], list]  # a dataset spec (e.g. wikiann:en:train) -> its examples


# -- label spaces ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelSpace:
    """The classes a model predicts, and how gold labels map onto them."""

    task: Literal["nli", "ner"]
    classes: tuple[str, ...]
    scheme: Scheme | None = None  # NER only

    @classmethod
    def for_task(cls, task: str, entity_types: tuple[str, ...] = (), scheme: Scheme = "bio") -> "LabelSpace":
        if task == "nli":
            return cls("nli", NLI_LABELS)
        if scheme == "io":
            return cls("ner", ("O", *entity_types), "io")
        return cls("ner", ("O", *[f"{p}-{t}" for t in entity_types for p in "BI"]), "bio")

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes[1:] if not c.startswith("I-")) if self.scheme == "io" else \
            tuple(c[2:] for c in self.classes if c.startswith("B-"))

    def tag_index(self) -> dict[str, int]:
        """IOB2 tag → class index; tags of unknown types count as O (policy handled upstream)."""
        index: dict[str, int] = {"O": 0}
        for t in self.entity_types:
            for p in "BI":
                index[f"{p}-{t}"] = self.classes.index(t if self.scheme == "io" else f"{p}-{t}")
        return _DefaultO(index)

    def named(self, probabilities: list[float], digits: int = 6) -> dict[str, float]:
        """One position's class probabilities by class name."""
        return {c: round(p, digits) for c, p in zip(self.classes, probabilities)}

    def decode_ner(self, class_ids: list[int], n_words: int) -> list[str]:
        """Word class predictions → valid IOB2 tags (truncated words are O)."""
        tags: list[str] = []
        for c in list(class_ids) + [0] * (n_words - len(class_ids)):
            name = self.classes[c]
            if name == "O":
                tags.append("O")
                continue
            etype = name if self.scheme == "io" else name[2:]
            continues = tags and tags[-1] != "O" and tags[-1][2:] == etype
            inside = self.scheme == "io" or name.startswith("I-")
            tags.append(f"I-{etype}" if inside and continues else f"B-{etype}")
        return tags


class _DefaultO(dict):
    def __missing__(self, key: str) -> int:
        return 0


# -- batches ---------------------------------------------------------------------------------------
def collate(features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ids, positions and labels; scored positions are explicit, so padding side is irrelevant."""
    length = max(len(f.input_ids) for f in features)
    n_pos = max(1, max(len(f.positions) for f in features))
    batch = {
        "input_ids": torch.full((len(features), length), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(features), length), dtype=torch.long),
        "positions": torch.zeros((len(features), n_pos), dtype=torch.long),
        "position_mask": torch.zeros((len(features), n_pos), dtype=torch.bool),
    }
    labelled = all(f.labels is not None for f in features)
    if labelled:
        batch["labels"] = torch.full((len(features), n_pos), -100, dtype=torch.long)
    per_token = all(f.token_labels is not None for f in features)
    if per_token:
        batch["token_labels"] = torch.full((len(features), length), -100, dtype=torch.long)
    for i, f in enumerate(features):
        batch["input_ids"][i, : len(f.input_ids)] = torch.tensor(f.input_ids)
        batch["attention_mask"][i, : len(f.input_ids)] = 1
        batch["positions"][i, : len(f.positions)] = torch.tensor(f.positions, dtype=torch.long)
        batch["position_mask"][i, : len(f.positions)] = True
        if labelled:
            batch["labels"][i, : len(f.labels)] = torch.tensor(f.labels)
        if per_token:
            batch["token_labels"][i, : len(f.token_labels)] = torch.tensor(f.token_labels)
    return batch


# -- the model -------------------------------------------------------------------------------------
class XshotModel(nn.Module):
    """A backbone body read at the scored positions, and a method-specific scorer on top.

    Subclasses implement :meth:`score` (hidden states at positions → class logits) and may extend
    :meth:`loss`. ``virtual_tokens`` is set when a soft prompt is prepended: the body's outputs
    then start with that many virtual positions, which are sliced off before anything is read.
    """

    notes: list[str]

    def __init__(self, backbone: Backbone, labels: LabelSpace, input_format: InputFormat):
        super().__init__()
        self.backbone = backbone
        self.body = backbone.body
        self.labels = labels
        self.input_format = input_format
        self.virtual_tokens = 0
        self.notes = []

    def require_cross_encoding(self, config: MethodConfig, why: str) -> None:
        """Methods that read one joint input cannot encode the pair apart; say so before any training."""
        if config.pair_encoding != "cross":
            raise XshotError(f"pair_encoding {config.pair_encoding!r} needs a linear head: {why}; "
                             "use finetune, or lora/soft-prompt with head=linear")

    def freeze_input_embeddings(self) -> None:
        self.body.get_input_embeddings().weight.requires_grad_(False)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the body that stay trainable under parameter-efficient tuning."""
        return []

    @property
    def rows_per_input(self) -> int:
        """Rows the body runs per encoded input (LM-BFF's demonstration sets at test time); 1 for most methods."""
        return 1

    def hidden_states(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return hidden[:, self.virtual_tokens:]

    @staticmethod
    def at(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Hidden states at ``positions`` ([B, P]) → [B, P, D]."""
        return hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.hidden_states(batch)
        logits = self.score(hidden, batch)  # [B, P, C]
        return logits[:, 0] if self.labels.task == "nli" else logits

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch)
        labels = batch["labels"][:, 0] if self.labels.task == "nli" else batch["labels"]
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=-100)

    def encode(self, examples: list) -> list[Feature]:
        if self.labels.task == "nli":
            return self.input_format.encode_nli(examples, self.labels.classes)
        return self.input_format.encode_ner(examples, self.labels.tag_index())

    def collate(self, features: list[Feature]) -> dict[str, torch.Tensor]:
        return collate(features, self.backbone.tokenizer.pad_token_id)

    def set_language(self, language: str | None) -> None:
        """Hook for per-language verbalizers; most methods are language-agnostic."""

    def observe_shots(self, examples: list, language: str | None, seed: int) -> None:
        """Hook for methods that learn from the shots without gradients (in-context demonstrations)."""

    def choose_from_shots(self, shots: Shots) -> list[ShotChoice]:
        """Hook for what a method decides from its training shots before it trains (LM-BFF's and EntLM's
        label words, LM-BFF's demonstration pool); called once per training stage."""
        return []

    def restore_choices(self, choices: list[ShotChoice]) -> None:
        """Put back what :meth:`choose_from_shots` chose, when a saved model is rebuilt (before its weights)."""

    def encoding_extras(self) -> dict[str, Callable[[], Any]]:
        """Facts about the last :meth:`encode` worth recording with the evaluation (cached with the features)."""
        return {}

    def evaluation_notes(self) -> list[str]:
        """What an evaluation on the current language should record beyond its scores."""
        return []
