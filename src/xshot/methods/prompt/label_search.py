"""Label words chosen from the shots: LM-BFF's automatic search (NLI) and EntLM's data-driven words (NER).

NLI, after LM-BFF (Gao et al. 2021, §5.2; ``tools/generate_labels.py``, ``src/label_search.py``): the
pretrained LM scores the whole vocabulary at the answer slot of every shot; for each class the
``k`` word-initial, alphabetic, single-token words of highest mean log-probability over that class's
shots are its candidates; every assignment of distinct candidates to the classes is scored by its
zero-shot accuracy on the shots, and the ``n`` best (ties broken by their summed class likelihood) are
re-ranked by training with each and measuring accuracy on held-out folds of the shots. LM-BFF keeps
k = 100, n = 100 and re-ranks on a separate dev set of K shots per class; xshot re-ranks by
cross-validation on the shots themselves (no data beyond them) and defaults to k = 20, n = 4, 2 folds
so that the search costs about as much as 8 extra short trainings.

NER, after EntLM (Ma et al. 2022, ``get_topk.py``, its "data" sort): for each entity type, the words
tagged with it in the shots (or in a labelled corpus), most frequent first, keeping a word only if it
is longer than one character and more than ``ratio`` (0.6) of its occurrences carry that type; the top
6 become the type's label words, merged into one virtual label token initialised to their mean
output embedding. A type without any such word keeps its class name.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import torch

from xshot.backbone import Backbone
from xshot.data.examples import NERExample

WORD_START_MARKERS = ("▁", "Ġ")


def candidate_vocabulary(backbone: Backbone) -> tuple[torch.Tensor, list[str]]:
    """Vocabulary ids that are a whole word as it follows a space, and that word (alphabetic, 2+ characters)."""
    tok = backbone.tokenizer
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    specials = set(tok.all_special_tokens)
    probe = tok.convert_ids_to_tokens(backbone.word_ids(["hello"], first=False)[0])[0]
    marker = next((m for m in WORD_START_MARKERS if probe.startswith(m)), None)
    ids, words = [], []
    for i, piece in enumerate(pieces):
        if piece is None or piece in specials:
            continue
        if marker is not None:
            if not piece.startswith(marker):
                continue
            word = piece[len(marker):]
        else:  # WordPiece: continuation pieces start with ##
            if piece.startswith("##"):
                continue
            word = piece
        if len(word) >= 2 and word.isalpha():
            ids.append(i)
            words.append(word)
    return torch.tensor(ids, dtype=torch.long), words


def likely_words(log_probs: torch.Tensor, labels: list[int], n_classes: int, vocab_ids: torch.Tensor,
                 k: int) -> list[list[int]]:
    """Per class, the ``k`` candidate ids of highest mean log-probability over that class's shots."""
    y = torch.tensor(labels)
    out = []
    for c in range(n_classes):
        mean = log_probs[y == c][:, vocab_ids].mean(0)
        order = torch.argsort(mean, descending=True, stable=True)[:k]
        out.append(vocab_ids[order].tolist())
    return out


def best_assignments(log_probs: torch.Tensor, labels: list[int], candidates: list[list[int]],
                     n: int) -> list[tuple[tuple[int, ...], float]]:
    """The ``n`` assignments (one distinct candidate per class) of highest zero-shot accuracy on the shots,
    ties broken by the summed mean log-probability of each class's word over its shots, then by order."""
    y = torch.tensor(labels)
    n_classes = len(candidates)
    combos = list(itertools.product(*candidates))
    combos = [c for c in combos if len(set(c)) == n_classes]
    if not combos:
        return []
    table = torch.tensor(combos, dtype=torch.long)  # [M, C]
    accuracy = torch.empty(len(combos))
    for start in range(0, len(combos), 20000):
        chunk = table[start: start + 20000]
        scores = log_probs[:, chunk]  # [N, m, C]
        accuracy[start: start + len(chunk)] = (scores.argmax(-1) == y[:, None]).float().mean(0)
    class_means = torch.stack([log_probs[y == c].mean(0) for c in range(n_classes)])  # [C, V]
    likelihood = class_means.gather(1, table.T).sum(0)  # [M]
    order = np.lexsort((np.arange(len(combos)), -likelihood.numpy(), -accuracy.numpy()))[:n]
    return [(combos[i], float(accuracy[i])) for i in order]


def entity_label_words(examples: list[NERExample], types: tuple[str, ...], per_type: int,
                       ratio: float) -> dict[str, list[str]]:
    """EntLM's data-driven label words per entity type (most frequent first; see the module docstring)."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for ex in examples:
        for word, tag in zip(ex.tokens, ex.tags or ()):
            by_word[word][tag[2:] if tag != "O" else "O"] += 1
    chosen: dict[str, list[str]] = {}
    for t in types:
        tagged = sorted(((c[t], w) for w, c in by_word.items() if c[t]), key=lambda x: (-x[0], x[1]))
        keep = [w for n, w in tagged if len(w) > 1 and n / sum(by_word[w].values()) > ratio]
        chosen[t] = keep[:per_type]
    return chosen
