"""Turning examples into token ids plus the positions a method scores.

Every method reads hidden states at a few positions of its input: the first token (encoder
classification), the ``<mask>`` (cloze), the last token (decoders) or the first sub-token of each
word (NER). An :class:`InputFormat` builds the ids and those positions once, so the model code
never re-derives them. DualCL additionally prepends the label names; their token spans are the
same for every example and are kept on the format. A siamese pair packs the premise's and the
hypothesis's own inputs into one sequence, the hypothesis starting at the position.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from xshot.backbone import Backbone
from xshot.data.examples import NERExample, NLIExample
from xshot.errors import XshotError

Style = Literal["plain", "cloze", "label-prefix", "siamese"]
DECODER_PAIR_TEMPLATE = "{premise}\n{hypothesis}"


@dataclass
class Feature:
    input_ids: list[int]
    positions: list[int]  # NLI: one position; NER: one per word that survived truncation
    labels: list[int] | None  # class index per position; None when unlabelled
    n_words: int = 1  # NER: words in the sentence (predictions past truncation are O)
    # NER with an LM loss at every token (EntLM): the class of the word each token belongs to, -100 for
    # special tokens; None when the format does not ask for it or the example is unlabelled
    token_labels: list[int] | None = None


@dataclass(frozen=True)
class SequenceChoices:
    """Whole-sentence scoring on decoders (XGLM's protocol, as lm-evaluation-harness runs it): the template's
    ``{label}`` filled with each class's word, in this language, and its other slots (``{question}``)."""

    words: tuple[str, ...]  # per class
    slots: tuple[tuple[str, str], ...] = ()

    def fill(self, template: str, premise: str, hypothesis: str, word: str) -> str:
        return template.format(premise=premise, hypothesis=hypothesis, label=word, **dict(self.slots))


@dataclass
class InputFormat:
    backbone: Backbone
    style: Style
    max_length: int = 256
    template: str | None = None  # cloze NLI template
    label_names: list[str] = field(default_factory=list)  # label-prefix: one name per class
    # in-context demonstrations (cloze NLI), already rendered and tokenized, farthest from the input first;
    # each is followed by ``demo_separator``. An input that does not fit drops them from the front.
    demonstrations: list[list[int]] = field(default_factory=list)
    demo_separator: list[int] = field(default_factory=list)
    # NER on decoders: the state before a word's first sub-token is read, so a sequence must not start
    # with a word; without a tokenizer prefix (BOS), the BOS (else EOS) token is put first
    context_start: bool = False
    # NER: also record each token's class (:attr:`Feature.token_labels`), for losses at every token
    token_targets: bool = False
    # NLI on decoders with a {label} template: one sentence per class, packed into one feature (see
    # :meth:`encode_sequences`)
    sequence: SequenceChoices | None = None
    label_spans: list[list[int]] = field(default_factory=list, init=False)
    _prefix_ids: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.demonstrations_dropped = 0
        self.demonstrations_shown = 0
        if self.style == "label-prefix":
            pieces = self.backbone.word_ids(self.label_names, first=True)
            start = len(self.backbone.framing.prefix)
            ids: list[int] = []
            for piece in pieces:
                self.label_spans.append(list(range(start + len(ids), start + len(ids) + len(piece))))
                ids.extend(piece)
            separator = self.backbone.framing.pair_separator if self.backbone.kind == "encoder" else \
                self.backbone.tokenizer("\n", add_special_tokens=False)["input_ids"]
            self._prefix_ids = ids + separator

    # -- NLI -----------------------------------------------------------------------------------
    def encode_nli(self, examples: list[NLIExample], classes: tuple[str, ...]) -> list[Feature]:
        bb, tok = self.backbone, self.backbone.tokenizer
        if self.style == "siamese":
            firsts, seconds = (tok([getattr(ex, side) for ex in examples], truncation=True,
                                   max_length=self.max_length)["input_ids"] for side in ("premise", "hypothesis"))
            return [Feature(a + b, [len(a)], _nli_label(ex, classes)) for ex, a, b in zip(examples, firsts, seconds)]
        if self.sequence is not None:
            return self.encode_sequences(examples, classes)
        if self.style == "cloze":
            texts = [self._render(ex) for ex in examples]
            ids = tok(texts)["input_ids"]
        elif bb.kind == "encoder":
            enc = tok([ex.premise for ex in examples], [ex.hypothesis for ex in examples],
                      truncation=True, max_length=self.max_length - len(self._prefix_ids))
            ids = enc["input_ids"]
        else:
            ids = tok([DECODER_PAIR_TEMPLATE.format(premise=ex.premise, hypothesis=ex.hypothesis)
                       for ex in examples])["input_ids"]
        features = []
        self.demonstrations_dropped = 0  # inputs of this call that lost demonstrations (read by the run)
        self.demonstrations_shown = 0  # demonstrations kept, summed over the inputs of this call
        for ex, seq in zip(examples, ids):
            seq = self._with_demonstrations(self._with_prefix(self._fit(seq)))
            features.append(Feature(seq, [self._nli_position(seq)], _nli_label(ex, classes)))
        return features

    def encode_sequences(self, examples: list[NLIExample], classes: tuple[str, ...]) -> list[Feature]:
        """One feature per example holding its C class sentences packed end to end: ``input_ids`` = s_1 + ... +
        s_C, ``positions`` = [end of s_1, ..., end of s_C, length of their shared start]. Each s_c is the
        tokenizer's prefix (BOS), the demonstrations, then " " + the template filled with class c's word,
        tokenized without special tokens (lm-evaluation-harness's empty context and target delimiter). The test
        sentences are never cut (as lm-evaluation-harness); demonstrations are dropped, farthest first, so that
        the longest sentence fits ``max_length``."""
        tok, head = self.backbone.tokenizer, len(self.backbone.framing.prefix)
        features = []
        self.demonstrations_dropped = self.demonstrations_shown = 0
        for ex in examples:
            texts = [" " + self.sequence.fill(self.template, _plain(ex.premise, tok), _plain(ex.hypothesis, tok), w)
                     for w in self.sequence.words]
            seqs = [self.backbone.framing.prefix + ids for ids in tok(texts, add_special_tokens=False)["input_ids"]]
            longest = max(seqs, key=len)
            with_demos = self._with_demonstrations(longest)
            block = with_demos[head:head + len(with_demos) - len(longest)]
            seqs = [s[:head] + block + s[head:] for s in seqs]
            shared = next((i for i, column in enumerate(zip(*seqs)) if len(set(column)) > 1), min(map(len, seqs)))
            ends = list(itertools.accumulate(len(s) for s in seqs))
            features.append(Feature([i for s in seqs for i in s], ends + [shared], _nli_label(ex, classes)))
        return features

    def _with_demonstrations(self, seq: list[int]) -> list[int]:
        """Demonstrations after the tokenizer's prefix; the farthest ones go first when the input is too long."""
        if not self.demonstrations:
            return seq
        kept, room = len(self.demonstrations), self.max_length - len(seq)
        while kept and len(self._demonstration_ids(kept)) > room:
            kept -= 1
        if kept < len(self.demonstrations):
            self.demonstrations_dropped += 1
        self.demonstrations_shown += kept
        head = len(self.backbone.framing.prefix)
        return seq[:head] + self._demonstration_ids(kept) + seq[head:]

    def _demonstration_ids(self, last: int) -> list[int]:
        """The ``last`` demonstrations nearest the input, each followed by the separator."""
        chosen = self.demonstrations[len(self.demonstrations) - last:] if last else []
        return [i for d in chosen for i in d + self.demo_separator]

    def demonstration_prefix(self) -> list[int]:
        """The start shared by every input that kept all its demonstrations: the tokenizer's prefix and them."""
        return self.backbone.framing.prefix + self._demonstration_ids(len(self.demonstrations))

    def _render(self, ex: NLIExample) -> str:
        tok = self.backbone.tokenizer
        return self.template.format(premise=_plain(ex.premise, tok), hypothesis=_plain(ex.hypothesis, tok),
                                    mask=tok.mask_token or "")

    def _fit(self, seq: list[int]) -> list[int]:
        """Shorten an over-long input without losing its answer slot: the premise end is cut first."""
        excess = len(seq) - (self.max_length - len(self._prefix_ids))
        if excess <= 0:
            return seq
        head = len(self.backbone.framing.prefix)
        if self.style == "cloze" and self.backbone.kind == "encoder":
            mask = seq.index(self.backbone.tokenizer.mask_token_id)
            cut_end = max(head, mask - 2)  # keep the two tokens just before the mask (" ?")
            cut_start = max(head, cut_end - excess)
            seq = seq[:cut_start] + seq[cut_end:]
            excess = len(seq) - (self.max_length - len(self._prefix_ids))
            if excess <= 0:
                return seq
            tail = len(self.backbone.framing.suffix)
            return seq[: len(seq) - tail - excess] + seq[len(seq) - tail:]
        return seq[:head] + seq[head + excess:]

    def _nli_position(self, seq: list[int]) -> int:
        if self.style == "cloze" and self.backbone.kind == "encoder":
            try:
                return seq.index(self.backbone.tokenizer.mask_token_id)
            except ValueError:
                raise XshotError("the template's {mask} slot was lost; shorten the template or raise max_length")
        return 0 if self.backbone.kind == "encoder" else len(seq) - 1

    def _with_prefix(self, seq: list[int]) -> list[int]:
        if not self._prefix_ids:
            return seq
        head = len(self.backbone.framing.prefix)
        return seq[:head] + self._prefix_ids + seq[head:]

    # -- NER -----------------------------------------------------------------------------------
    def encode_ner(self, examples: list[NERExample], tag_index: dict[str, int]) -> list[Feature]:
        bb = self.backbone
        words = [w for ex in examples for w in ex.tokens]
        firsts = [i == 0 for ex in examples for i in range(len(ex.tokens))]
        # one batched tokenizer call for all words: initial words without, others with the word prefix
        texts = [w if first else bb.word_prefix + w for w, first in zip(words, firsts)]
        pieces = bb.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        unk = bb.tokenizer.unk_token_id
        start = bb.framing.prefix
        if self.context_start and not start:
            tok = bb.tokenizer
            start = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        prefix = start + self._prefix_ids
        budget = self.max_length - len(prefix) - len(bb.framing.suffix)
        features, cursor = [], 0
        for ex in examples:
            ids, positions, spans = list(prefix), [], []
            for piece in pieces[cursor: cursor + len(ex.tokens)]:
                piece = piece or [unk if unk is not None else bb.tokenizer.pad_token_id]
                if len(ids) - len(prefix) + len(piece) > budget:
                    break
                positions.append(len(ids))
                spans.append(len(piece))
                ids.extend(piece)
            cursor += len(ex.tokens)
            ids.extend(bb.framing.suffix)
            labels = None if ex.tags is None else [tag_index[t] for t in ex.tags[: len(positions)]]
            token_labels = None
            if self.token_targets and labels is not None:
                token_labels = [-100] * len(prefix) + [c for c, n in zip(labels, spans) for _ in range(n)]
                token_labels += [-100] * len(bb.framing.suffix)
            features.append(Feature(ids, positions, labels, n_words=len(ex.tokens), token_labels=token_labels))
        return features


def _nli_label(ex: NLIExample, classes: tuple[str, ...]) -> list[int] | None:
    return None if ex.label is None else [classes.index(ex.label)]


def _plain(text: str, tokenizer) -> str:
    """Text with the tokenizer's special-token strings broken up (``[MASK]`` becomes ``[ MASK]``), so that no
    example text turns into a special token and the template's ``{mask}`` is the only answer slot (calibration's
    content-free input "[MASK]" became a second mask token on BERT-style tokenizers, and the first one, in the
    premise, was read as the slot)."""
    for special in tokenizer.all_special_tokens:
        if len(special) > 1 and special in text:
            text = text.replace(special, f"{special[0]} {special[1:]}")
    return text
