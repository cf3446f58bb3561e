"""LM-BFF's demonstrations (Gao et al. 2021, §6): one labelled shot per class in every input.

Each demonstration is a training shot in the template's own format with the answer slot filled by its
label word. LM-BFF appends them after the input on masked LMs (``[CLS] input [SEP] demo [SEP] demo
[SEP]``); on decoders the answer slot is the end of the text, so they go before it, after the BOS.
Drawing follows the reference code (``src/dataset.py``): one shot per class, placed in the order of the
label list (the reference groups a set's demonstrations by label id), never the input itself while training, drawn afresh for every training batch; ``similar`` first keeps, per
class, the share ``demo_filter_rate`` (LM-BFF: half) of the shots most similar to the input by cosine
of sentence embeddings, then draws among them. At test time each input gets ``demo_sets`` sets, drawn
from a generator seeded by the run's seed and the input's own tokens (so an input's sets do not depend
on how inputs are batched), and the class log-probabilities of the sets are averaged.

Deliberate differences: LM-BFF embeds with SBERT; xshot's default encoder is the run's own pretrained
checkpoint, mean-pooled (``demo_encoder`` names another). LM-BFF averages the raw label-word logits of
the sets, xshot their log-softmax over the classes (the same ranking when sets agree in scale). Too
long an input drops demonstrations, farthest from the answer first, instead of LM-BFF's fixed
per-sentence token limits; the number of inputs that did is recorded with each evaluation.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

import torch

from xshot.backbone import Backbone
from xshot.data.examples import NLIExample
from xshot.methods.inputs import Feature, InputFormat


class SimilarityEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a frozen copy of a checkpoint."""

    def __init__(self, name: str):
        from xshot.backbone import load_backbone

        self.backbone = load_backbone(name, want_lm_head=False)
        self.backbone.body.eval().requires_grad_(False)

    @torch.inference_mode()
    def embed(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        tok, body = self.backbone.tokenizer, self.backbone.body
        device = next(body.parameters()).device
        out = []
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i: i + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            hidden = body(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0)


@dataclass
class DemonstrationPool:
    """The shots a run draws its demonstrations from, rendered once."""

    demos: list[list[int]]  # each shot as a demonstration, tokenized without special tokens
    classes: list[int]  # class index of each shot
    own: dict[tuple[int, ...], set[int]]  # an encoded input -> the shots that have it (never its own demonstration)
    embeddings: torch.Tensor | None = None  # [N, D] for ``similar``


@dataclass
class Demonstrations:
    """Puts drawn demonstrations into encoded inputs at collate time."""

    fmt: InputFormat
    mode: str  # random | similar
    sets: int
    filter_rate: float
    seed: int
    separator: list[int]  # decoders: between demonstrations and before the input
    encoder: SimilarityEncoder | None = None
    pool: DemonstrationPool | None = None
    dropped: int = 0  # inputs assembled with fewer than all their demonstrations, since the last reset
    assembled: int = 0
    training: bool = False  # draw afresh per batch, never the input itself; else ``sets`` seeded sets
    _train_rng: random.Random = field(default_factory=random.Random)
    _embedded: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)

    @property
    def backbone(self) -> Backbone:
        return self.fmt.backbone

    def set_pool(self, examples: list[NLIExample], classes: tuple[str, ...], words: dict[str, str],
                 queries: list[Feature]) -> None:
        """The shots (and their encoded inputs, to recognise them) with the label words to show."""
        bb, template = self.backbone, self.fmt.template
        if bb.kind == "encoder":
            texts = [template.format(premise=ex.premise, hypothesis=ex.hypothesis, mask=words[ex.label])
                     for ex in examples]
        else:
            texts = [template.format(premise=ex.premise, hypothesis=ex.hypothesis, mask="") + bb.word_prefix
                     + words[ex.label] for ex in examples]
        demos = bb.tokenizer(texts, add_special_tokens=False)["input_ids"]
        embeddings = self._embed([f.input_ids for f in queries]) if self.mode == "similar" else None
        own: dict[tuple[int, ...], set[int]] = {}
        for i, f in enumerate(queries):
            own.setdefault(tuple(f.input_ids), set()).add(i)
        self.pool = DemonstrationPool(demos, [classes.index(ex.label) for ex in examples], own, embeddings)
        self._train_rng = random.Random(self.seed)

    def _embed(self, queries: list[list[int]]) -> torch.Tensor:
        missing = [q for q in map(tuple, queries) if q not in self._embedded]
        if missing:
            texts = [self.backbone.tokenizer.decode(list(q), skip_special_tokens=True) for q in missing]
            for q, e in zip(missing, self.encoder.embed(texts)):
                self._embedded[q] = e
        return torch.stack([self._embedded[tuple(q)] for q in queries])

    def draw(self, query: list[int], rng: random.Random, embedding: torch.Tensor | None) -> list[int]:
        """One pool index per class, in the order of the classes (as the reference); never the query itself."""
        pool = self.pool
        own = pool.own.get(tuple(query), set()) if self.training else set()
        members: dict[int, list[int]] = {}
        for i, c in enumerate(pool.classes):
            if i not in own:
                members.setdefault(c, []).append(i)
        if embedding is not None:  # keep each class's most similar share
            sims = (pool.embeddings @ embedding).tolist()
            for c, idx in members.items():
                idx.sort(key=lambda i: -sims[i])
                members[c] = idx[: max(1, int(len(idx) * self.filter_rate))]
        return [rng.choice(members[c]) for c in sorted(members)]

    def rows(self, features: list[Feature]) -> tuple[list[Feature], int]:
        """Each input with its demonstrations: one row per input while training, ``sets`` rows at test time."""
        sets = 1 if self.training else self.sets
        embeddings = self._embed([f.input_ids for f in features]) if self.mode == "similar" else [None] * len(features)
        rows = []
        for f, emb in zip(features, embeddings):
            rng = self._train_rng if self.training else random.Random(
                zlib.crc32(bytes(str(self.seed), "ascii") + bytes(repr(f.input_ids), "ascii")))
            for _ in range(sets):
                rows.append(self.assemble(f, self.draw(f.input_ids, rng, emb)))
        return rows, sets

    def assemble(self, f: Feature, chosen: list[int]) -> Feature:
        """The input and its demonstrations within ``max_length``; the farthest from the answer go first."""
        demos = [self.pool.demos[i] for i in chosen]
        room = self.fmt.max_length - len(f.input_ids)
        bb = self.backbone
        self.assembled += 1
        if bb.kind == "encoder":  # input, then each demonstration and a separator
            suffix = bb.framing.suffix
            while demos and sum(len(d) + len(suffix) for d in demos) > room:
                demos.pop()
            self.dropped += len(demos) < len(chosen)
            ids = f.input_ids + [t for d in demos for t in d + suffix]
            return Feature(ids, f.positions, f.labels, f.n_words)
        while demos and sum(len(d) + len(self.separator) for d in demos) > room:
            demos.pop(0)
        self.dropped += len(demos) < len(chosen)
        head = len(bb.framing.prefix)
        inserted = [t for d in demos for t in d + self.separator]
        ids = f.input_ids[:head] + inserted + f.input_ids[head:]
        return Feature(ids, [p + len(inserted) for p in f.positions], f.labels, f.n_words)
