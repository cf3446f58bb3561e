"""Tests for xshot.metrics: seqeval parity, NLI scores, and bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from xshot import metrics as M
from xshot.errors import XshotError
from xshot.metrics import (
    bootstrap_ci,
    bootstrap_distribution,
    ner_counts,
    ner_scores,
    nli_counts,
    nli_scores,
    resample_indices,
)

# --------------------------------------------------------------------------- helpers

TYPES = ["PER", "LOC", "ORG", "MISC"]


def _random_tag(rng: np.random.Generator, extended: bool) -> str:
    u = rng.random()
    if u < 0.45:
        return "O"
    if extended and u < 0.55:
        return str(rng.choice(["B", "I", "E", "S", "E-PER", "S-LOC", "E-ORG", "S-MISC"]))
    return f"{rng.choice(['B', 'I'])}-{rng.choice(TYPES)}"


def _random_gold_sentence(rng: np.random.Generator, length: int) -> list[str]:
    """Mostly valid IOB2, with occasional invalid patterns."""
    tags: list[str] = []
    while len(tags) < length:
        u = rng.random()
        if u < 0.5:
            tags.append("O")
        elif u < 0.9:
            t = str(rng.choice(TYPES))
            tags.append(f"B-{t}")
            tags.extend(f"I-{t}" for _ in range(int(rng.integers(0, 3))))
        elif u < 0.95:
            tags.append(f"I-{rng.choice(TYPES)}")  # I- without B-
        else:
            tags.extend([f"B-{rng.choice(TYPES)}", f"I-{rng.choice(TYPES)}"])  # type switch
    return tags[:length]


def _corrupt(rng: np.random.Generator, sent: list[str], p: float, extended: bool) -> list[str]:
    return [_random_tag(rng, extended) if rng.random() < p else t for t in sent]


def _random_corpus(seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    kind = seed % 6
    extended = kind == 5
    gold, pred = [], []
    for _ in range(n):
        length = int(rng.integers(0, 13))
        g = _random_gold_sentence(rng, length)
        if kind == 0:  # fully random predictions (invalid sequences galore)
            p = [_random_tag(rng, extended) for _ in range(length)]
        elif kind == 1:  # empty predictions
            p = ["O"] * length
        elif kind == 2:  # all-O gold
            g, p = ["O"] * length, _corrupt(rng, ["O"] * length, 0.2, extended)
        else:  # noisy copy of gold
            p = _corrupt(rng, g, float(rng.choice([0.05, 0.2, 0.5])), extended)
        if extended:
            g = _corrupt(rng, g, 0.1, True)
        gold.append(g)
        pred.append(p)
    return gold, pred


def _seqeval(gold, pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True)
        return {
            "precision": precision_score(gold, pred),
            "recall": recall_score(gold, pred),
            "f1": f1_score(gold, pred),
            "per_type": {
                t: {
                    "precision": v["precision"],
                    "recall": v["recall"],
                    "f1": v["f1-score"],
                    "support": v["support"],
                }
                for t, v in report.items()
                if not t.endswith(" avg")
            },
        }


def _assert_scores_equal(ours, ref):
    for k in ("precision", "recall", "f1"):
        assert ours[k] == pytest.approx(float(ref[k]), abs=1e-12), k
    assert set(ours["per_type"]) == set(ref["per_type"])
    for t, v in ref["per_type"].items():
        for k in ("precision", "recall", "f1"):
            assert ours["per_type"][t][k] == pytest.approx(float(v[k]), abs=1e-12), (t, k)
        assert ours["per_type"][t]["support"] == int(v["support"])
        assert isinstance(ours["per_type"][t]["support"], int)


def _ref_nli(gold, pred):
    """sklearn f1_score(labels=sorted(set(gold)), average='macro', zero_division=0), by hand."""
    f1s = []
    for c in sorted(set(gold)):
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        n_pred = sum(1 for p in pred if p == c)
        n_gold = sum(1 for g in gold if g == c)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    return {"accuracy": acc, "macro_f1": sum(f1s) / len(f1s)}


# --------------------------------------------------------------------------- NER: hand-written


def test_ner_hand_partial_match():
    gold = [["B-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG"], ["B-MISC", "I-MISC"]]
    pred = [["B-PER", "O", "B-LOC", "O", "B-PER", "B-ORG"], ["B-MISC", "I-MISC"]]
    s = ner_scores(gold, pred)
    # gold: PER LOC ORG MISC (4); pred: PER LOC(2,2) PER ORG MISC (5); tp: PER ORG MISC (3)
    assert s["precision"] == pytest.approx(3 / 5)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert s["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "MISC": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
    }
    assert list(s["per_type"]) == ["LOC", "MISC", "ORG", "PER"]  # seqeval's sorted order


def test_ner_hand_recall_half():
    s = ner_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    assert (s["precision"], s["recall"]) == (1.0, 0.5)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_ner_i_without_b_is_an_entity():
    s = ner_scores([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)


def test_ner_type_switch_splits_entity():
    # pred B-PER I-LOC -> PER(0,0) and LOC(1,1); neither matches gold PER(0,1)
    s = ner_scores([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert s["per_type"]["LOC"]["support"] == 0
    assert s["per_type"]["PER"]["support"] == 1


def test_ner_trailing_i_does_not_cross_sentences():
    gold = [["O", "B-ORG", "I-ORG"], ["I-ORG", "O"]]
    pred = [["O", "B-ORG", "I-ORG"], ["B-ORG", "O"]]
    s = ner_scores(gold, pred)
    assert s["per_type"]["ORG"]["support"] == 2
    assert s["f1"] == 1.0


def test_ner_all_o_and_empty_predictions():
    s = ner_scores([["O", "O"], []], [["O", "O"], []])
    assert s == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {}}
    s = ner_scores([["B-PER", "O", "B-LOC"], ["B-PER"]], [["O", "O", "O"], ["O"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert s["per_type"]["PER"]["support"] == 2
    assert s["per_type"]["LOC"]["support"] == 1


def test_ner_accepts_tuples_and_is_order_invariant():
    gold, pred = _random_corpus(3)
    ref = ner_scores(gold, pred)
    assert ner_scores([tuple(g) for g in gold], [tuple(p) for p in pred]) == ref
    perm = np.random.default_rng(0).permutation(len(gold))
    assert ner_scores([gold[i] for i in perm], [pred[i] for i in perm]) == ref


def test_ner_emits_no_seqeval_warnings():
    gold, pred = _random_corpus(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ner_scores(gold, pred)


# --------------------------------------------------------------------------- NER: errors


def test_ner_sentence_count_mismatch():
    with pytest.raises(XshotError, match="2 gold sentences but 1 predicted"):
        ner_scores([["O"], ["O"]], [["O"]])


def test_ner_length_mismatch_names_sentence():
    with pytest.raises(XshotError, match="sentence 2 has 3 gold tags but 2 predicted"):
        ner_scores([["O"], ["O"], ["O", "B-PER", "O"]], [["O"], ["O"], ["O", "O"]])


@pytest.mark.parametrize("bad", ["PER", "X", "", "b-PER", "O-PER", ".", None, 3])
def test_ner_malformed_tag_raises(bad):
    with pytest.raises(XshotError, match="predicted sentence 1, token 1"):
        ner_scores([["O"], ["O", "O"]], [["O"], ["O", bad]])


def test_ner_string_sentence_and_empty_corpus_raise():
    with pytest.raises(XshotError, match="sentence 0 is a string"):
        ner_scores(["O"], ["O"])
    with pytest.raises(XshotError, match="no sentences"):
        ner_scores([], [])


# --------------------------------------------------------------------------- NER: seqeval parity


@pytest.mark.parametrize("chunk", range(6))
def test_ner_parity_with_seqeval_random(chunk):
    for seed in range(chunk * 50, (chunk + 1) * 50):  # 300 corpora in all
        gold, pred = _random_corpus(seed)
        _assert_scores_equal(ner_scores(gold, pred), _seqeval(gold, pred))


def test_random_corpora_cover_the_interesting_cases():
    """Guard against a generator that silently stops producing the edge cases."""
    seen = dict.fromkeys(
        ["i_without_b", "type_switch", "trailing_i", "no_pred_entities", "no_gold"], 0
    )
    for seed in range(300):
        gold, pred = _random_corpus(seed)
        flat = [t for s in pred for t in s]
        seen["no_pred_entities"] += all(t == "O" for t in flat)
        seen["no_gold"] += all(t == "O" for s in gold for t in s)
        for s in pred:
            seen["trailing_i"] += bool(s) and s[-1].startswith("I-")
            for prev, cur in zip(["O"] + s, s):
                if cur.startswith("I-"):
                    seen["i_without_b"] += prev == "O"
                    seen["type_switch"] += prev[:2] in ("B-", "I-") and prev[2:] != cur[2:]
    assert all(v >= 10 for v in seen.values()), seen


@pytest.mark.parametrize("seed", range(40))
def test_ner_counts_sum_to_seqeval_corpus_counts(seed):
    gold, pred = _random_corpus(seed)
    counts = ner_counts(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g_ents, p_ents = set(get_entities(gold)), set(get_entities(pred))  # flattened corpus
    for j, t in enumerate(counts.types):
        g = {e for e in g_ents if e[0] == t}
        p = {e for e in p_ents if e[0] == t}
        assert counts.gold[:, j].sum() == len(g)
        assert counts.pred[:, j].sum() == len(p)
        assert counts.tp[:, j].sum() == len(g & p)
    assert counts.types == tuple(sorted({e[0] for e in g_ents | p_ents}))
    assert counts.tp.shape == (len(gold), len(counts.types))
    assert counts.scores() == ner_scores(gold, pred)


def test_ner_counts_are_per_sentence():
    c = ner_counts([["B-PER"], ["O"], ["B-PER", "B-LOC"]], [["B-PER"], ["B-LOC"], ["O", "B-LOC"]])
    assert c.types == ("LOC", "PER")
    np.testing.assert_array_equal(c.gold, [[0, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(c.pred, [[0, 1], [1, 0], [1, 0]])
    np.testing.assert_array_equal(c.tp, [[0, 1], [0, 0], [1, 0]])
    assert len(c) == 3


# --------------------------------------------------------------------------- NLI


def test_nli_hand_computed():
    gold = ["e", "n", "c", "e"]
    pred = ["e", "e", "c", "n"]
    # e: tp1 pred2 gold2 -> f1 .5; n: tp0 -> 0; c: 1 -> macro 1.5/3
    assert nli_scores(gold, pred) == {"accuracy": 0.5, "macro_f1": pytest.approx(0.5)}


def test_nli_class_never_predicted():
    gold = ["a", "a", "b", "b", "c", "c"]
    pred = ["a", "a", "a", "b", "a", "b"]
    # a: P=2/4 R=1 F=2/3; b: P=1/2 R=1/2 F=1/2; c: never predicted -> 0
    s = nli_scores(gold, pred)
    assert s["accuracy"] == pytest.approx(3 / 6)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_nli_predicted_label_outside_gold_set():
    # "x" is wrong for its example but does not become a zero-F1 class of its own
    s = nli_scores([0, 0, 1, 1], [0, 0, 1, 9])
    assert s["accuracy"] == 0.75
    assert s["macro_f1"] == pytest.approx((1.0 + 2 / 3) / 2)


def test_nli_perfect_and_worst():
    assert nli_scores([1, 2, 3], [1, 2, 3]) == {"accuracy": 1.0, "macro_f1": 1.0}
    assert nli_scores([1, 1], [2, 2]) == {"accuracy": 0.0, "macro_f1": 0.0}


@pytest.mark.parametrize("seed", range(20))
def test_nli_matches_reference_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    gold = rng.choice(["entailment", "neutral", "contradiction"], size=n).tolist()
    pred = rng.choice(["entailment", "neutral", "contradiction", "other"], size=n).tolist()
    ours, ref = nli_scores(gold, pred), _ref_nli(gold, pred)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    assert ours["macro_f1"] == pytest.approx(ref["macro_f1"], abs=1e-12)


def test_nli_errors():
    with pytest.raises(XshotError, match="3 gold labels but 2 predicted"):
        nli_scores([0, 1, 2], [0, 1])
    with pytest.raises(XshotError, match="no examples"):
        nli_scores([], [])


def test_nli_counts_layout():
    c = nli_counts(["b", "a", "a"], ["b", "b", "a"])
    assert c.labels == ("a", "b")
    np.testing.assert_array_equal(c.gold, [[0, 1], [1, 0], [1, 0]])
    np.testing.assert_array_equal(c.pred, [[0, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(c.tp, [[0, 1], [0, 0], [1, 0]])


# --------------------------------------------------------------------------- bootstrap


def _nli_data(n: int, acc: float, seed: int):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, size=n).tolist()
    return gold, _predict(gold, acc, seed + 1000)


def _predict(gold: list[int], acc: float, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    g = np.asarray(gold)
    wrong = (g + rng.integers(1, 3, size=g.size)) % 3
    return np.where(rng.random(g.size) < acc, g, wrong).tolist()


def _ner_data(n: int, seed: int):
    gold, pred = [], []
    rng = np.random.default_rng(seed)
    for _ in range(n):
        g = _random_gold_sentence(rng, int(rng.integers(1, 10)))
        gold.append(g)
        pred.append(_corrupt(rng, g, 0.15, False))
    return gold, pred


def test_bootstrap_reproducible_and_seed_dependent():
    gold, pred = _nli_data(200, 0.7, 0)
    a = bootstrap_ci("nli", gold, pred, n_resamples=300, seed=1)
    assert a == bootstrap_ci("nli", gold, pred, n_resamples=300, seed=1)
    assert a != bootstrap_ci("nli", gold, pred, n_resamples=300, seed=2)
    assert set(a) == {"accuracy", "macro_f1"}
    g, p = _ner_data(60, 0)
    b = bootstrap_ci("ner", g, p, n_resamples=300, seed=1)
    assert b == bootstrap_ci("ner", g, p, n_resamples=300, seed=1)
    assert b != bootstrap_ci("ner", g, p, n_resamples=300, seed=2)
    assert set(b) == {"precision", "recall", "f1"}


@pytest.mark.parametrize("task", ["nli", "ner"])
def test_bootstrap_contains_point_estimate(task):
    for seed in range(5):
        gold, pred = _nli_data(300, 0.6, seed) if task == "nli" else _ner_data(80, seed)
        point = nli_scores(gold, pred) if task == "nli" else ner_scores(gold, pred)
        ci = bootstrap_ci(task, gold, pred, n_resamples=500, seed=seed)
        for m, (lo, hi) in ci.items():
            assert lo < point[m] < hi, (m, lo, point[m], hi)


def test_bootstrap_width_shrinks_with_more_examples():
    def width(n):
        gold, pred = _nli_data(n, 0.7, 0)
        lo, hi = bootstrap_ci("nli", gold, pred, n_resamples=500)["accuracy"]
        return hi - lo

    w100, w2000 = width(100), width(2000)
    assert w2000 < w100 / 2.5  # ~ 1/sqrt(20) in theory


def test_bootstrap_alpha_nests_intervals():
    gold, pred = _nli_data(300, 0.7, 0)
    lo95, hi95 = bootstrap_ci("nli", gold, pred, alpha=0.05)["accuracy"]
    lo50, hi50 = bootstrap_ci("nli", gold, pred, alpha=0.5)["accuracy"]
    assert lo95 < lo50 < hi50 < hi95


def test_resample_indices_shape_and_range():
    idx = resample_indices(7, 40, seed=3)
    assert idx.shape == (40, 7) and idx.min() >= 0 and idx.max() <= 6
    np.testing.assert_array_equal(idx, resample_indices(7, 40, seed=3))
    assert len(np.unique(idx)) == 7


@pytest.mark.parametrize("block_elements", [2_000_000, 50])
def test_ner_bootstrap_equals_slow_seqeval_loop(monkeypatch, block_elements):
    monkeypatch.setattr(M, "_BLOCK_ELEMENTS", block_elements)  # 50 forces several blocks
    gold, pred = _random_corpus(4)
    gold, pred = gold + _ner_data(8, 1)[0], pred + _ner_data(8, 1)[1]
    idx = resample_indices(len(gold), 60, seed=5)
    fast = bootstrap_distribution("ner", gold, pred, n_resamples=60, seed=5)
    for r, rows in enumerate(idx):
        ref = _seqeval([gold[i] for i in rows], [pred[i] for i in rows])
        for m in ("precision", "recall", "f1"):
            assert fast[m][r] == pytest.approx(ref[m], abs=1e-12), (r, m)


def test_nli_bootstrap_equals_slow_loop():
    gold, pred = _nli_data(25, 0.5, 2)
    idx = resample_indices(len(gold), 200, seed=9)
    fast = bootstrap_distribution("nli", gold, pred, n_resamples=200, seed=9)
    for r, rows in enumerate(idx):
        ref = _ref_nli([gold[i] for i in rows], [pred[i] for i in rows])
        assert fast["accuracy"][r] == pytest.approx(ref["accuracy"], abs=1e-12)
        assert fast["macro_f1"][r] == pytest.approx(ref["macro_f1"], abs=1e-12)


def test_bootstrap_percentile_interval_of_distribution():
    gold, pred = _nli_data(100, 0.6, 0)
    dist = bootstrap_distribution("nli", gold, pred, n_resamples=400, seed=4)
    ci = bootstrap_ci("nli", gold, pred, n_resamples=400, seed=4, alpha=0.1)
    assert ci["accuracy"] == pytest.approx(tuple(np.quantile(dist["accuracy"], [0.05, 0.95])))


def test_bootstrap_argument_errors():
    with pytest.raises(XshotError, match="unknown task"):
        bootstrap_ci("pos", [0], [0])
    with pytest.raises(XshotError, match="n_resamples"):
        bootstrap_ci("nli", [0], [0], n_resamples=0)
    with pytest.raises(XshotError, match="alpha"):
        bootstrap_ci("nli", [0], [0], alpha=1.5)
