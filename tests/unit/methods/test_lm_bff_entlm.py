"""LM-BFF demonstrations and label search, EntLM's full-vocabulary objective and data-driven words."""

import random

import pytest
import torch
from torch.nn import functional as F

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import load_backbone
from xshot.data.examples import NERExample, NLIExample
from xshot.errors import XshotError
from xshot.kernels import can_pack
from xshot.methods import get_method
from xshot.methods.base import Shots
from xshot.methods.prompt.label_search import best_assignments, entity_label_words, likely_words
from xshot.results import CandidateScore
from xshot.training.trainer import train

CPU = torch.device("cpu")
# twelve NLI shots, four per class, distinct texts
SHOTS = [NLIExample(f"{p} {i}", f"{h} {i}", lab) for i in "abcd" for p, h, lab in (
    ("a man is playing a guitar", "a man plays music", "entailment"),
    ("the cat sleeps", "the dog barks", "neutral"),
    ("it is raining", "the sun is shining", "contradiction"))]


def make(path, task="nli", method="prompt", max_length=128, **options):
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    config.check_task(task)
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head)
    return spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=max_length,
                      source_language="en")


def shots(model, examples, calls=None):
    def cross_validate(candidates, n_folds):
        if calls is not None:
            calls.append(([c.name for c in candidates], n_folds))
        return [CandidateScore(name=c.name, fold_scores=[float(i == 1)]) for i, c in enumerate(candidates)]

    def no_corpus(spec):
        raise AssertionError("no corpus was asked for")

    return Shots(list(examples), "en", 7, cross_validate, no_corpus)


# -- demonstrations ----------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny_encoder", "tiny_decoder"])
def test_training_demonstrations_are_one_per_class_never_the_input_and_redrawn(request, fixture):
    model = make(request.getfixturevalue(fixture), demonstrations="random")
    model.choose_from_shots(shots(model, SHOTS))
    model.train()
    features = model.encode(SHOTS)
    pool = model.demos.pool
    draws = set()
    for _ in range(20):
        for i, f in enumerate(features):
            chosen = model.demos.draw(f.input_ids, model.demos._train_rng, None)
            # one per class, in the label list's order (the reference groups a set by label id)
            assert [pool.classes[j] for j in chosen] == [0, 1, 2]
            assert i not in chosen  # never the input itself
            draws.add((i, tuple(chosen)))
    assert len(draws) > len(features)  # drawn afresh, not fixed per input
    batch = model.collate(features[:2])
    assert "demo_sets" not in batch and batch["input_ids"].size(0) == 2


def test_demonstrations_follow_the_input_on_encoders_and_precede_it_on_decoders(tiny_encoder, tiny_decoder):
    for path in (tiny_encoder, tiny_decoder):
        model = make(path, demonstrations="random", demo_sets=3)
        model.choose_from_shots(shots(model, SHOTS))
        model.eval()
        f = model.encode(NLI[:1])[0]
        batch = model.collate([f])
        assert batch["input_ids"].size(0) == 3 and int(batch["demo_sets"]) == 3
        row = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
        chosen = model.demos.draw(f.input_ids, random.Random(0), None)  # any draw: lengths of a demonstration
        if model.backbone.kind == "encoder":
            assert row[: len(f.input_ids)] == f.input_ids  # the input first, its mask where it was
            assert int(batch["positions"][0, 0]) == f.positions[0]
            assert row[len(f.input_ids):].count(model.backbone.framing.suffix[-1]) == 3
        else:
            assert row[-(len(f.input_ids) - 1):] == f.input_ids[1:]  # the input last, after BOS + demonstrations
            assert int(batch["positions"][0, 0]) == len(row) - 1
        assert chosen


def test_test_time_sets_are_seeded_per_input_not_per_batch(tiny_encoder):
    model = make(tiny_encoder, demonstrations="random", demo_sets=4)
    model.choose_from_shots(shots(model, SHOTS))
    model.eval()
    features = model.encode(NLI)
    alone = model.collate(features[2:3])["input_ids"]
    together = model.collate(features)["input_ids"][8:12]
    width = min(alone.size(1), together.size(1))
    assert torch.equal(alone[:, :width], together[:, :width])
    with torch.no_grad():  # averaged over the sets: one score row per input
        assert model(model.collate(features)).shape == (len(NLI), 3)


def test_demonstrations_too_long_are_dropped_farthest_from_the_answer_first(tiny_encoder, tiny_decoder):
    for path in (tiny_encoder, tiny_decoder):
        model = make(path, demonstrations="random", demo_sets=1)
        model.choose_from_shots(shots(model, SHOTS))
        model.eval()
        f = model.encode(NLI[:1])[0]
        demos, bb = model.demos, model.backbone
        gap = bb.framing.suffix if bb.kind == "encoder" else demos.separator
        nearest = demos.pool.demos[0 if bb.kind == "encoder" else 2] + gap  # the one next to the input
        model.input_format.max_length = len(f.input_ids) + len(nearest) + 1  # room for exactly one
        row = demos.assemble(f, [0, 1, 2])
        assert demos.dropped == 1 and len(row.input_ids) == len(f.input_ids) + len(nearest)
        if bb.kind == "encoder":  # input, then the first demonstration
            assert row.input_ids == f.input_ids + nearest
        else:  # BOS, the last demonstration, then the input
            head = len(bb.framing.prefix)
            assert row.input_ids == f.input_ids[:head] + nearest + f.input_ids[head:]
            assert row.positions == [f.positions[0] + len(nearest)]
        model.input_format.max_length = len(f.input_ids)  # no room: the input alone, never cut for them
        assert demos.assemble(f, [0, 1, 2]).input_ids == f.input_ids


def test_similar_demonstrations_come_from_the_most_similar_half(tiny_encoder):
    model = make(tiny_encoder, demonstrations="similar", demo_filter_rate=0.5)
    model.choose_from_shots(shots(model, SHOTS))
    model.eval()
    demos = model.demos
    f = model.encode(NLI[:1])[0]
    emb = demos._embed([f.input_ids])[0]
    sims = (demos.pool.embeddings @ emb).tolist()
    for seed in range(10):
        for j in demos.draw(f.input_ids, random.Random(seed), emb):
            same = [i for i, c in enumerate(demos.pool.classes) if c == demos.pool.classes[j]]
            top = sorted(same, key=lambda i: -sims[i])[:2]  # half of the 4 shots of the class
            assert j in top


def test_demonstrations_are_refused_for_ner_and_zero_shot():
    with pytest.raises(XshotError, match="NLI"):
        get_method("prompt").config_class.resolve({"demonstrations": "random"}).check_task("ner")
    with pytest.raises(XshotError, match="icl"):
        get_method("zero-shot").config_class.resolve({"demonstrations": "random"})
    with pytest.raises(XshotError, match="names, search"):
        get_method("prompt").config_class.resolve({"label_words": "serch"})


# -- NLI label search ------------------------------------------------------------------------------
def test_likely_words_and_best_assignments_by_hand():
    # 4 shots (classes 0, 0, 1, 1) over a 5-word vocabulary
    logp = torch.tensor([[-1.0, -2.0, -0.5, -3.0, -4.0],
                         [-1.0, -2.5, -0.6, -3.0, -4.0],
                         [-2.0, -0.5, -0.4, -3.0, -4.0],
                         [-2.0, -0.7, -0.9, -3.0, -4.0]])
    labels = [0, 0, 1, 1]
    vocab = torch.tensor([0, 1, 2, 3])  # word 4 is not a candidate
    # class 0 means: w0 -1, w1 -2.25, w2 -0.55, w3 -3 -> w2, w0; class 1: w0 -2, w1 -0.6, w2 -0.65 -> w1, w2
    assert likely_words(logp, labels, 2, vocab, 2) == [[2, 0], [1, 2]]
    best = best_assignments(logp, labels, [[2, 0], [1, 2]], 3)
    # (2,1): shot0 -0.5 vs -2 ok, shot1 ok, shot2 -0.4 vs -0.5 -> class 0 wrong, shot3 -0.9 vs -0.7 ok: 0.75
    # (0,1): 1.0;  (0,2): shot0 -1 vs -0.5 wrong, shot1 wrong, shot2 ok, shot3 ok: 0.5;  (2,2) is not distinct
    assert best == [((0, 1), 1.0), ((2, 1), 0.75), ((0, 2), 0.5)]


def test_label_search_is_deterministic_and_sees_only_the_shots(tiny_encoder):
    results = []
    for _ in range(2):
        calls = []
        model = make(tiny_encoder, label_words="search", search_words=3, search_candidates=3, search_folds=3)
        (choice,) = model.choose_from_shots(shots(model, SHOTS, calls))
        results.append(choice.chosen)
        assert calls and calls[0][1] == 3 and len(calls[0][0]) == 3
        assert choice.chosen == dict(zip(model.labels.classes, calls[0][0][1].split("/")))  # the best fold score
        assert model.label_words == list(choice.chosen.values())
    assert results[0] == results[1]


# -- EntLM -----------------------------------------------------------------------------------------
def test_entity_label_words_by_hand():
    data = [NERExample(("John", "met", "Mary", "in", "Paris"), ("B-PER", "O", "B-PER", "O", "B-LOC")),
            NERExample(("John", "saw", "Paris", "Hilton"), ("B-PER", "O", "B-PER", "I-PER")),
            NERExample(("Paris", "is", "big", "J"), ("B-LOC", "O", "O", "B-PER"))]
    words = entity_label_words(data, ("PER", "LOC", "ORG"), per_type=6, ratio=0.6)
    # John 2/2 PER; Paris 1/3 PER, 2/3 LOC; Mary, Hilton 1/1 PER; "J" is one character
    assert words == {"PER": ["John", "Hilton", "Mary"], "LOC": ["Paris"], "ORG": []}


@pytest.mark.parametrize("fixture", ["tiny_encoder", "tiny_decoder", "tiny_encoder_no_head"])
def test_entlm_full_vocabulary_loss_equals_a_hand_computation(request, fixture):
    model = make(request.getfixturevalue(fixture), task="ner")
    model.eval()  # no dropout: the hand computation must see the same states
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        model.virtual.normal_()  # a virtual token that is not just the mean of its words
        hidden = model.hidden_states(batch)
        full = model.scorer.full_vocabulary(hidden)  # [B, L, V]
        V = full.size(-1)
        total, count = 0.0, 0
        ids, cls, mask = batch["input_ids"], batch["token_labels"], batch["attention_mask"]
        decoder = model.backbone.kind == "decoder"
        for b in range(ids.size(0)):
            for t in range(ids.size(1)):
                c = int(cls[b, t])
                if c == -100:
                    continue
                if c > 0:
                    target = V + c - 1
                elif decoder:
                    if t + 1 >= ids.size(1) or not mask[b, t + 1]:
                        continue
                    target = int(ids[b, t + 1])
                else:
                    target = int(ids[b, t])
                feats = hidden[b, t] if model.scorer.mode != "mlm-head" else None
                if feats is None:  # the MLM head's transform output
                    feats, _ = model.scorer.project(hidden[b, t][None])
                    feats = feats[0]
                virtual = model.virtual @ feats.float() + model.virtual_bias
                logits = torch.cat([full[b, t], virtual])
                total += float(F.cross_entropy(logits[None], torch.tensor([target])))
                count += 1
        expected = total / count
        assert model.loss(batch).item() == pytest.approx(expected, rel=1e-4)
    # entities' tokens target a virtual token, O tokens a real one
    targets = model.entlm_targets(batch)
    assert bool((targets[batch["token_labels"] > 0] >= V).all())
    assert bool((targets[batch["token_labels"] == 0] < V).all())


def test_entlm_full_decoding_is_the_vocabulary_argmax_rule(tiny_encoder):
    model = make(tiny_encoder, task="ner")
    model.eval()
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        model.virtual.normal_(0, 3)
        scores = model(batch)  # [B, P, 1 + E]
        h = model.at(model.hidden_states(batch), batch["positions"])
        feats, logits = model.scorer.project(h)
        virtual = feats @ model.virtual.T + model.virtual_bias
        every = torch.cat([logits, virtual], -1)  # the real vocabulary then the virtual tokens
        V = logits.size(-1)
    best = every.argmax(-1)
    expected = torch.where(best >= V, best - V + 1, torch.zeros_like(best))
    real = batch["position_mask"]
    assert not real.all()  # the fixture has sentences of different lengths: padding positions exist
    assert torch.equal(scores.argmax(-1)[real], expected[real])
    assert not scores[~real].any()  # padding positions are not scored


def test_entlm_virtual_tokens_start_at_the_mean_of_their_label_words(tiny_encoder):
    model = make(tiny_encoder, task="ner", label_words="search", entity_words=2)
    (choice,) = model.choose_from_shots(shots(model, NER))
    assert choice.chosen["PER"] == ["barack", "john"]  # most frequent first, then alphabetical
    assert choice.chosen["DATE"] == ["may"]
    ids = model.word_ids[model._scored_classes.index("PER")]
    rows, bias = model.scorer.output_rows(ids[model.word_mask[model._scored_classes.index("PER")]])
    per = model._scored_classes.index("PER")
    assert torch.allclose(model.virtual[per], rows.mean(0)) and torch.allclose(model.virtual_bias[per], bias.mean())


def test_entlm_trains_and_a_reloaded_model_keeps_its_searched_words(tiny_encoder, tmp_path):
    from xshot.training.checkpoint import load_model, save_model
    from xshot.training.config import RunConfig

    model = make(tiny_encoder, task="ner", label_words="search", entity_words=2)
    choices = model.choose_from_shots(shots(model, NER))
    result = train(model, model.encode(NER), model.config, seed=1, device=CPU, max_steps=3, progress=False)
    assert len(result.losses) == 3 and all(loss == loss for loss in result.losses)
    config = RunConfig(task="ner", model=tiny_encoder, method="prompt", train="x:en:train", eval=["x:en:test"],
                       options={"label_words": "search", "entity_words": 2}, max_length=128)
    save_model(model, tmp_path / "model", config, model.config, TYPES, "en", choices)
    again, _ = load_model(tmp_path / "model")
    assert again.label_words == model.label_words
    assert torch.equal(again.virtual, model.virtual.detach())


def test_label_search_is_refused_with_the_demonstrations_it_would_not_score():
    """The search cross-validated its candidates without the demonstrations the run then used."""
    config = get_method("prompt").config_class
    with pytest.raises(XshotError, match="label_words=search scores its candidates without demonstrations"):
        config.resolve({"label_words": "search", "demonstrations": "random"})
    assert config.resolve({"label_words": "search"}).searches_label_words


# F.linear on the bf16 screen (CPUs that cannot pack: AVX2 only), and oneDNN's packed screen where this CPU can
@pytest.mark.parametrize("packed", [False] + ([True] if can_pack() else []))
@pytest.mark.parametrize("block", [None, 5])  # the default (one block here), and several blocks
@pytest.mark.parametrize("fixture", ["tiny_decoder", "tiny_encoder_no_head"])
def test_entlm_bf16_evaluation_screens_in_bf16_and_keeps_the_fp32_maximum(request, fixture, block, packed,
                                                                           monkeypatch):
    """The largest real-vocabulary logit from the bf16 screen plus fp32 recomputation of the rows near it equals
    the full fp32 product's, also with planted near-ties that bf16 rounding alone would misorder."""
    from xshot.methods import heads
    from xshot.training.evaluate import to_inference_precision

    if block:
        monkeypatch.setattr(heads, "SCREEN_BLOCK", block)
    monkeypatch.setattr(heads, "can_pack", lambda: packed)

    model = make(request.getfixturevalue(fixture), task="ner")
    model.eval()
    to_inference_precision(model, torch.bfloat16)
    scorer = model.scorer
    weight = scorer.weight_source.weight
    torch.manual_seed(0)
    h = torch.randn(40, weight.size(1))
    with torch.no_grad():
        base = weight[7].float().clone()  # rows a hair apart along the direction of the first positions
        for i, row in enumerate((11, 12, 13)):
            weight[row] = (base + (i + 1) * 1e-3 * torch.randn_like(base)).to(weight.dtype)
        h[:10] = base * 5 + 0.01 * torch.randn(10, base.numel())
        _, screened = scorer.max_logit(h)
        features, logits = scorer.project(h)  # the fp32 product over every row
    assert scorer._screen_cache[0].is_mkldnn == packed
    assert screened.tolist() == pytest.approx(logits.max(-1).values.tolist(), abs=1e-5)
    assert torch.equal(features, h.float())
    with torch.no_grad():
        batch = model.collate(model.encode(NER))
        fast = model(batch)
    with torch.enable_grad():  # the exact full-vocabulary path (as in training)
        slow = model(batch)
    assert torch.allclose(fast, slow.detach(), atol=1e-5) and torch.equal(fast.argmax(-1), slow.argmax(-1))


def test_a_screened_scorer_copies_without_its_packed_screen(tiny_encoder_no_head):
    """The bf16 screen (packed for oneDNN on CPUs that can) is a cache: a copy of the model rebuilds its own."""
    import copy

    from xshot.training.evaluate import to_inference_precision

    model = make(tiny_encoder_no_head, task="ner")
    model.eval()
    to_inference_precision(model, torch.bfloat16)
    h = torch.randn(3, model.scorer.weight_source.weight.size(1))
    with torch.no_grad():
        _, before = model.scorer.max_logit(h)
        twin = copy.deepcopy(model)
        assert twin.scorer._screen_cache is None and model.scorer._screen_cache is not None
        _, after = twin.scorer.max_logit(h)
    assert torch.equal(before, after)
