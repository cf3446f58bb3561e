"""Zero-shot and in-context prompting, calibration, prefix tuning and (IA)³, and EntLM on decoders."""

import json
import math

import pytest
import torch

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import load_backbone
from xshot.data.examples import NLIExample
from xshot.errors import XshotError
from xshot.methods import get_method
from xshot.methods.heads import mean_word_scores
from xshot.methods.icl.model import choose_demonstrations
from xshot.methods.ia3.model import paper_targets
from xshot.training.config import RunConfig

CPU = torch.device("cpu")


def make(path, method, task="nli", shots=None, seed=1, max_length=64, **options):
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    config.check_task(task)
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head, check=config.check_backbone)
    model = spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=max_length,
                       source_language="en")
    model.observe_shots(shots if shots is not None else (NLI if task == "nli" else NER), "en", seed)
    model.set_language("en")
    return model.eval()


# -- EntLM on decoders ----------------------------------------------------------------------------
def test_entlm_on_a_decoder_scores_the_token_itself_from_the_state_before_it(tiny_decoder):
    model = make(tiny_decoder, "prompt", "ner", ner_objective="restricted")
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        logits = model(batch)
        full = model.scorer.full_vocabulary(model.hidden_states(batch))
    for b, p in ((0, 0), (0, 3), (2, 2)):  # the first word, "paris", the second "paris"
        pos = int(batch["positions"][b, p])
        own = int(batch["input_ids"][b, pos])
        assert pos >= 1
        assert logits[b, p, 0].item() == pytest.approx(full[b, pos - 1, own].item(), abs=1e-5)
        assert logits[b, p, 0].item() != pytest.approx(full[b, pos, own].item(), abs=1e-3)  # the old reading
        # label words (mean of their sub-token logits): at the word itself, the first state that has read it
        words = mean_word_scores(full[b, pos][model.word_ids.reshape(-1)], model.word_mask)
        assert torch.allclose(logits[b, p, 1:], words, atol=1e-5)


def test_entlm_on_a_decoder_without_bos_puts_a_start_token_first(tiny_decoder):
    model = make(tiny_decoder, "prompt", "ner")
    model.backbone.framing.prefix = []  # a tokenizer that adds no BOS (BLOOM, GPT-2)
    feature = model.encode(NER[:1])[0]
    assert feature.input_ids[0] == model.backbone.tokenizer.bos_token_id and feature.positions[0] == 1


# -- zero-shot ----------------------------------------------------------------------------------
def test_zero_shot_is_the_untrained_prompt_model_with_nothing_trainable(tiny_decoder):
    zero = make(tiny_decoder, "zero-shot")
    prompt = make(tiny_decoder, "prompt")
    batch = zero.collate(zero.encode(NLI))
    with torch.no_grad():
        assert torch.allclose(zero(batch), prompt(batch))
    assert not any(p.requires_grad for p in zero.parameters())
    assert not zero.config.trains


def test_zero_shot_refuses_a_backbone_without_an_lm_head_before_loading_weights(tiny_encoder_no_head, monkeypatch):
    import xshot.backbone as backbone_module

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(backbone_module, "_load_weights", no_weights)
    for method in ("zero-shot", "icl"):
        with pytest.raises(XshotError, match="needs a"):
            make(tiny_encoder_no_head, method)


def test_calibration_by_hand(tiny_decoder):
    plain = make(tiny_decoder, "zero-shot")
    calibrated = make(tiny_decoder, "zero-shot", calibrate=True, content_free=["N/A", ""])
    batch = plain.collate(plain.encode(NLI))
    content_free = plain.collate(plain.encode([NLIExample("N/A", "N/A", None), NLIExample("", "", None)]))
    with torch.no_grad():
        scores, cf_scores, out = plain(batch).tolist(), plain(content_free).tolist(), calibrated(batch).tolist()

    def softmax(row):
        z = [math.exp(x - max(row)) for x in row]
        return [v / sum(z) for v in z]

    p_cf = [(a + b) / 2 for a, b in zip(*[softmax(r) for r in cf_scores])]
    for row, got in zip(scores, out):
        expected = [math.log(p) - math.log(q) for p, q in zip(softmax(row), p_cf)]
        assert got == pytest.approx(expected, abs=1e-4)
    words, content_free_note = calibrated.evaluation_notes()
    assert words == plain.evaluation_notes()[0] and words.startswith("label words: entailment ")
    assert content_free_note.startswith("content-free label probabilities: entailment")
    assert sum(float(x.split()[-1]) for x in content_free_note.split(":", 1)[1].split(",")) == pytest.approx(1, abs=2e-3)


def test_a_decoder_template_with_a_mask_slot_is_refused_before_the_weights_load(tiny_decoder, monkeypatch):
    import xshot.backbone as backbone_module

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(backbone_module, "_load_weights", no_weights)
    for method in ("zero-shot", "icl", "prompt"):
        with pytest.raises(XshotError, match="decoder template .* has a {mask} slot"):
            make(tiny_decoder, method, template="{premise}? {mask}, {hypothesis}")


def test_calibration_is_for_nli_only():
    with pytest.raises(XshotError, match="calibrate is for NLI"):
        get_method("zero-shot").config_class.resolve({"calibrate": True}).check_task("ner")


# -- in-context learning --------------------------------------------------------------------------
POOL = [NLIExample(f"p{c}{i}", f"h{c}{i}", c) for c in ("entailment", "neutral", "contradiction") for i in range(8)]
CLASSES = ("entailment", "neutral", "contradiction")


def test_demonstrations_are_balanced_seeded_and_from_the_pool():
    one = choose_demonstrations(POOL, CLASSES, 2, "random", seed=1)
    assert sorted(ex.label for ex in one) == sorted(list(CLASSES) * 2)
    assert all(ex in POOL for ex in one)
    assert one == choose_demonstrations(POOL, CLASSES, 2, "random", seed=1)
    assert one != choose_demonstrations(POOL, CLASSES, 2, "random", seed=2)
    rr = choose_demonstrations(POOL, CLASSES, 2, "round-robin", seed=1)
    assert [ex.label for ex in rr] == list(CLASSES) * 2
    few = choose_demonstrations(POOL[:9], CLASSES, 4, "random", seed=1)  # 8 entailment, 1 neutral, 0 contradiction
    assert sorted(ex.label for ex in few) == ["entailment"] * 4 + ["neutral"]


def test_icl_prompt_is_demonstrations_then_the_zero_shot_prompt(tiny_decoder):
    icl = make(tiny_decoder, "icl", shots=NLI, demonstrations=1, max_length=256)
    zero = make(tiny_decoder, "zero-shot", max_length=256)
    tok = icl.backbone.tokenizer
    test = zero.encode(NLI[:1])[0].input_ids
    seq = icl.encode(NLI[:1])[0].input_ids
    assert seq[-(len(test) - 1):] == test[1:] and seq[0] == test[0]  # BOS, demonstrations, the zero-shot prompt
    text = tok.decode(seq[1: len(seq) - len(test) + 1])
    shown = icl._shown
    assert [ex.label for ex in shown].count("entailment") == 1 and len(shown) == 3
    for ex, word in zip(shown, ("yes", "maybe", "no")):
        assert ex.premise.split()[0] in text
    assert text.count("answer") == 3  # each demonstration is the template with its label word
    assert icl.encoding_extras()["demonstrations_dropped"]() == 0
    assert icl(icl.collate(icl.encode(NLI))).shape == (len(NLI), 3)


def test_truncation_drops_demonstrations_first_never_the_test_text(tiny_decoder):
    long = make(tiny_decoder, "icl", shots=NLI, demonstrations=2, max_length=512)
    full = long.encode(NLI[:1])[0].input_ids
    demos = long.input_format.demonstrations
    sep = long.input_format.demo_separator
    test_len = len(full) - sum(len(d) + len(sep) for d in demos)
    budget = test_len + len(demos[-1]) + len(sep) + len(demos[-2]) + len(sep) + 1  # room for the last two only
    short = make(tiny_decoder, "icl", shots=NLI, demonstrations=2, max_length=budget)
    seq = short.encode(NLI[:1])[0].input_ids
    assert len(seq) == budget - 1
    assert seq[1: 1 + len(demos[-2])] == demos[-2]  # the farthest demonstrations went first
    assert seq[-(test_len - 1):] == full[-(test_len - 1):]  # the test text is whole
    assert short.input_format.demonstrations_dropped == 1
    assert short.input_format.demonstrations_shown == 2  # of the 6 (2 per class): the last two
    tiny = make(tiny_decoder, "icl", shots=NLI, max_length=test_len)
    seq = tiny.encode(NLI[:1])[0].input_ids
    assert seq == full[:1] + full[-(test_len - 1):] and tiny.input_format.demonstrations_dropped == 1
    assert tiny.input_format.demonstrations_shown == 0
    assert long.encode(NLI[:2]) and long.input_format.demonstrations_shown == 2 * len(demos)  # per call, summed


def test_icl_refuses_ner_and_encoders(tiny_encoder):
    with pytest.raises(XshotError, match="NLI only"):
        get_method("icl").config_class().check_task("ner")
    with pytest.raises(XshotError, match="needs a decoder"):
        make(tiny_encoder, "icl")
    with pytest.raises(XshotError, match="demo_order must be one of"):
        get_method("icl").config_class.resolve({"demo_order": "sorted"})


# -- prefix tuning and (IA)³ ------------------------------------------------------------------------
@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_prefix_tuning_adds_no_positions_and_reads_the_prefixed_body(request, backbone):
    path = request.getfixturevalue(backbone)
    torch.manual_seed(0)
    model = make(path, "prefix", "ner", head="linear", num_virtual_tokens=4)
    assert model.virtual_tokens == 0
    with torch.no_grad():  # make the prefix matter
        for p in model.body.prompt_encoder.parameters():
            p.normal_(0, 1)
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        hidden = model.hidden_states(batch)
        base = model.body.get_base_model()
        plain = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        past = model.body.get_prompt(batch_size=len(NER))
        mask = torch.cat([torch.ones(len(NER), 4, dtype=torch.long), batch["attention_mask"]], dim=1)
        reference = base(input_ids=batch["input_ids"], attention_mask=mask, past_key_values=past).last_hidden_state
    assert hidden.shape == plain.shape  # one state per input token: NER positions line up unchanged
    assert torch.allclose(hidden, reference, atol=1e-5)
    assert not torch.allclose(hidden, plain, atol=1e-3)


def test_ia3_targets_keys_values_and_feed_forward_as_the_paper(tiny_encoder, tiny_decoder):
    import re

    for path, expected, ff in ((tiny_encoder, {"attention.self.key", "attention.self.value", "output.dense"},
                                {"output.dense"}),
                               (tiny_decoder, {"self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj"}, {"mlp.down_proj"})):
        body = load_backbone(path, want_lm_head=False).body
        targets, feedforward = paper_targets(body)
        names = [n for n, _ in body.named_modules()]
        in_layer = lambda n: re.sub(r"^.*?\.\d+\.", "", n)  # noqa: E731  (encoder.layer.0.output.dense -> output.dense)
        assert {in_layer(n) for n in names if re.fullmatch(targets, n)} == expected
        assert {in_layer(n) for n in names if re.fullmatch(feedforward, n)} == ff
        assert not any(re.fullmatch(targets, n) for n in names if "attention.output" in n or "q_proj" in n)
    model = make(tiny_encoder, "ia3", head="linear")
    vectors = {n: p for n, p in model.named_parameters() if p.requires_grad and "ia3" in n}
    assert len(vectors) == 2 * 3 and all(torch.all(p == 1) for p in vectors.values())  # identity at the start


@pytest.mark.parametrize("method,task", [("prefix", "ner"), ("ia3", "nli"), ("prefix", "nli"), ("ia3", "ner")])
def test_prefix_and_ia3_checkpoints_round_trip(tiny_decoder, tmp_path, method, task):
    from safetensors.torch import load_file

    from xshot.training.checkpoint import WEIGHTS, load_model, save_model
    from xshot.training.evaluate import predict
    from xshot.training.trainer import train

    torch.manual_seed(0)
    model = make(tiny_decoder, method, task)
    examples = NLI if task == "nli" else NER
    train(model, model.encode(examples), model.config, seed=1, device=CPU, max_steps=2, progress=False)
    run_config = RunConfig(task=task, model=tiny_decoder, method=method, train="jsonl:unused", max_length=64)
    save_model(model, tmp_path / "model", run_config, model.config, TYPES if task == "ner" else (), "en")
    saved = load_file(tmp_path / "model" / WEIGHTS)
    assert set(saved) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert sum(t.numel() for t in saved.values()) < sum(p.numel() for p in model.parameters()) / 10
    reloaded, _ = load_model(tmp_path)
    features = model.encode(examples)
    assert predict(model, features, device=CPU) == predict(reloaded, features, device=CPU)


# -- runs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["finetune", "prompt", "soft-prompt", "prefix", "lora", "ia3", "dualcl",
                                    "zero-shot", "icl"])
def test_every_method_runs_with_zero_steps_or_none(tiny_decoder, tmp_path, method):
    from xshot.training.run import run

    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    config = RunConfig(task="nli", model=tiny_decoder, method=method, train=f"jsonl:{data}", seed=5, k=1,
                       eval=[f"jsonl:{data}"], max_steps=0, bootstrap=10)
    metrics = run(config)
    assert metrics.evaluations[f"jsonl:{data}"].n == len(NLI)
    assert all(stage.steps == 0 for stage in metrics.training)
    if method in ("zero-shot", "icl"):
        assert metrics.params.trainable == 0 and metrics.training == []
    if method == "icl":
        assert "in-context demonstrations" in metrics.evaluations[f"jsonl:{data}"].notes[0]


def test_icl_with_target_language_demonstrations_draws_shots_per_language(tiny_decoder, tmp_path, monkeypatch):
    from xshot.training import run as run_module

    calls = []
    original = run_module.training_data

    def spy(config, spec, k, rt):
        calls.append(spec)
        return original(config, spec.replace("xnli:de", f"jsonl:{tmp_path / 'de.jsonl'}?lang=de"), k, rt)

    for lang in ("en", "de"):
        (tmp_path / f"{lang}.jsonl").write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    monkeypatch.setattr(run_module, "training_data", spy)
    monkeypatch.setattr(run_module, "with_language", lambda spec, lang: f"xnli:{lang}:dev")
    config = RunConfig(task="nli", model=tiny_decoder, method="icl", train=f"jsonl:{tmp_path / 'en.jsonl'}?lang=en",
                       k=1, eval=[f"jsonl:{tmp_path / 'de.jsonl'}?lang=de"], options={"demo_language": "target"},
                       bootstrap=10)
    run_module.run(config)
    assert calls[-1] == "xnli:de:dev"


def test_with_language_swaps_the_language_of_builtin_specs():
    from xshot.data.spec import with_language

    assert with_language("xnli:en:dev", "sw") == "xnli:sw:dev"
    assert with_language("masakhaner2:hau", "yor") == "masakhaner2:yor"
    with pytest.raises(XshotError, match="names no language"):
        with_language("jsonl:x.jsonl", "de")


@pytest.mark.parametrize("options", [{}, {"calibrate": True}, {"demonstrations": 2, "demo_order": "round-robin"}])
def test_cached_demonstrations_give_the_scores_of_the_full_forward(tiny_decoder, options):
    cached = make(tiny_decoder, "icl", max_length=256, **options)
    full = make(tiny_decoder, "icl", max_length=256, cache_demonstrations=False, **options)
    features = cached.encode(NLI)
    assert features == full.encode(NLI)
    batch = cached.collate(features)
    with torch.no_grad():
        assert torch.allclose(cached(batch), full(batch), atol=1e-5)
        # a batch mixing a row that dropped demonstrations falls back to the full forward
        length = len(features[0].input_ids) - 2
        short = make(tiny_decoder, "icl", max_length=length, **options)
        short_full = make(tiny_decoder, "icl", max_length=length, cache_demonstrations=False, **options)
        mixed = short.collate([features[1], *short.encode(NLI[:1])])
        assert short.input_format.demonstrations_dropped == 1
        assert torch.allclose(short(mixed), short_full(mixed), atol=1e-5)


def test_a_reloaded_icl_run_shows_the_same_demonstrations(tiny_decoder, tmp_path):
    from xshot.training.checkpoint import load_model
    from xshot.training.run import run

    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    config = RunConfig(task="nli", model=tiny_decoder, method="icl", train=f"jsonl:{data}", seed=3, k=2,
                       eval=[f"jsonl:{data}"], bootstrap=0)
    first = run(config, tmp_path / "run")
    model, _ = load_model(tmp_path / "run")
    model.set_language(None)
    assert first.evaluations[f"jsonl:{data}"].notes[0] == model.evaluation_notes()[0]
    assert model.input_format.demonstrations


def test_the_content_free_mask_input_cannot_take_the_answer_slot(tiny_encoder):
    """On a BERT-style tokenizer the content-free "[MASK]" became a real mask token in the premise, and the
    first mask (the premise's) was read as the answer slot: the text's special tokens are now broken up."""
    model = make(tiny_encoder, "zero-shot", calibrate=True)
    mask_id = model.backbone.tokenizer.mask_token_id
    (cf,) = model.encode([NLIExample("[MASK]", "[MASK]", None)])
    (real,) = model.encode([NLIExample("a man plays", "a man sleeps", None)])
    assert cf.input_ids.count(mask_id) == 1 == real.input_ids.count(mask_id)
    assert cf.positions == [cf.input_ids.index(mask_id)] and cf.positions[0] > 1  # after the premise, not in it
    template_slot = model.input_format.template.index("{mask}")
    assert template_slot > model.input_format.template.index("{premise}")


# -- whole-sentence scoring (XGLM's template, as lm-evaluation-harness) ----------------------------
def _reference_sentence_log_likelihoods(path, texts):
    """lm-evaluation-harness's multiple-choice score by hand: BOS, then " " + each sentence without special
    tokens, the sum of the log-probabilities of every token after BOS (transformers, nothing of xshot)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, lm = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    out = []
    for text in texts:
        ids = torch.tensor([[tok.bos_token_id] + tok(" " + text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(lm(ids).logits[0, :-1].float(), -1)
        out.append(float(logp.gather(-1, ids[0, 1:, None]).sum()))
    return out


@pytest.mark.parametrize("language, words", [("en", ("right", "Yes", "Also", "No")),
                                             ("de", ("richtig", "Ja", "Auch", "Nein"))])
def test_whole_sentence_scores_rank_as_the_full_sentence_log_likelihood(tiny_decoder, language, words):
    model = make(tiny_decoder, "zero-shot", template="xglm", verbalizer_language="target")
    model.set_language(language)
    with torch.no_grad():
        got = model(model.collate(model.encode(NLI))).tolist()
    question, *labels = words
    for ex, scores in zip(NLI, got):
        texts = [f"{ex.premise}, {question}? {w}, {ex.hypothesis}" for w in labels]
        full = _reference_sentence_log_likelihoods(tiny_decoder, texts)
        shift = [f - s for f, s in zip(full, scores)]  # the shared start's log-probability: one constant
        assert max(shift) - min(shift) == pytest.approx(0, abs=1e-3)
        assert max(range(3), key=full.__getitem__) == max(range(3), key=scores.__getitem__)


def test_sentences_are_packed_with_their_ends_and_shared_start(tiny_decoder):
    model = make(tiny_decoder, "zero-shot", template="{premise} | {label} | {hypothesis}",
                 label_words={"entailment": "yes", "neutral": "maybe", "contradiction": "no"})
    tok = model.backbone.tokenizer
    (feature,) = model.encode(NLI[:1])
    ex = NLI[0]
    sentences = [[tok.bos_token_id] + tok(f" {ex.premise} | {w} | {ex.hypothesis}", add_special_tokens=False)[
        "input_ids"] for w in ("yes", "maybe", "no")]
    assert feature.input_ids == [i for s in sentences for i in s]
    ends = [len(sentences[0]), len(sentences[0]) + len(sentences[1]), sum(map(len, sentences))]
    shared = next(i for i, col in enumerate(zip(*sentences)) if len(set(col)) > 1)
    assert feature.positions == ends + [shared]


def test_mean_scoring_averages_the_differing_tokens(tiny_decoder):
    total = make(tiny_decoder, "zero-shot", template="xglm")
    mean = make(tiny_decoder, "zero-shot", template="xglm", sequence_score="mean")
    from xshot.methods.prompt.sentences import token_log_probs, unpack

    batch = total.collate(total.encode(NLI[:2]))
    rows, shared = unpack(batch, 3)
    with torch.no_grad():
        per_token = token_log_probs(total, rows, [s for s in shared for _ in range(3)])
        assert mean(batch).flatten().tolist() == pytest.approx([float(t.mean()) for t in per_token], abs=1e-5)
        assert total(batch).flatten().tolist() == pytest.approx([float(t.sum()) for t in per_token], abs=1e-4)


def test_icl_with_whole_sentences_shows_gold_sentences_and_the_cache_changes_nothing(tiny_decoder):
    cached = make(tiny_decoder, "icl", template="xglm", demonstrations=1)
    plain = make(tiny_decoder, "icl", template="xglm", demonstrations=1, cache_demonstrations=False)
    tok = cached.backbone.tokenizer
    shown = cached._shown
    gold = dict(zip(cached.labels.classes, ("Yes", "Also", "No")))[shown[0].label]
    expected = f"{shown[0].premise}, right? {gold}, {shown[0].hypothesis}"
    assert cached.input_format.demonstrations[0] == tok(expected, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        a, b = cached(cached.collate(cached.encode(NLI))), plain(plain.collate(plain.encode(NLI)))
    assert torch.allclose(a, b, atol=1e-4)


def test_prompt_trains_whole_sentences_by_cross_entropy_over_their_log_likelihoods(tiny_decoder):
    model = make(tiny_decoder, "prompt", template="xglm").train()
    batch = model.collate(model.encode(NLI))
    loss = model.loss(batch)
    # by hand: the shared start's constant cancels in the softmax, so the loss is the cross-entropy over the
    # full sentences' log-likelihoods (transformers, nothing of xshot)
    expected = []
    for ex in NLI:
        texts = [f"{ex.premise}, right? {w}, {ex.hypothesis}" for w in ("Yes", "Also", "No")]
        full = torch.tensor(_reference_sentence_log_likelihoods(tiny_decoder, texts))
        expected.append(-torch.log_softmax(full, 0)[model.labels.classes.index(ex.label)])
    assert float(loss.detach()) == pytest.approx(float(torch.stack(expected).mean()), abs=1e-4)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    assert any("trained by cross-entropy over these class scores" in n for n in model.notes)


def test_prompt_training_on_whole_sentences_fits_the_shots(tiny_decoder):
    from xshot.training.evaluate import predict
    from xshot.training.trainer import train

    torch.manual_seed(0)
    model = make(tiny_decoder, "prompt", template="xglm", learning_rate=3e-3, warmup_ratio=0.0)
    features = model.encode(NLI)
    gold = [model.labels.classes.index(ex.label) for ex in NLI]
    before = model.eval().loss(model.collate(features)).item()
    train(model, features, model.config, seed=1, device=CPU, max_steps=30, progress=False)
    after = model.eval().loss(model.collate(features)).item()
    assert after < before / 2
    assert [p[0] for p in predict(model, features, device=CPU)] == gold


def test_whole_sentence_templates_are_refused_where_they_cannot_work(tiny_decoder, tiny_encoder):
    with pytest.raises(XshotError, match="cannot be combined with LM-BFF demonstrations or label_words=search"):
        make(tiny_decoder, "prompt", template="xglm", demonstrations="random")
    with pytest.raises(XshotError, match="cannot be combined with LM-BFF demonstrations or label_words=search"):
        make(tiny_decoder, "prompt", template="xglm", label_words="search")
    with pytest.raises(XshotError, match="whole-sentence scoring is for decoders"):
        make(tiny_encoder, "prompt", template="{premise} ? {mask} {label}, {hypothesis}")


def test_calibration_works_on_whole_sentences(tiny_decoder):
    model = make(tiny_decoder, "zero-shot", template="xglm", calibrate=True)
    with torch.no_grad():
        out = model(model.collate(model.encode(NLI)))
    assert out.shape == (len(NLI), 3) and torch.isfinite(out).all()
    assert model.evaluation_notes()[1].startswith("content-free label probabilities: ")


def test_bf16_token_log_probs_by_hand():
    """Three rows whose logits are 0, -1 and -9 (exact in bf16): the first two are recomputed in fp32 (within
    NEAR nats of the top), the third enters the normaliser from the bf16 screen (e^-9: above the tolerance)."""
    from types import SimpleNamespace

    from torch import nn

    from xshot.methods.heads import NEAR, VocabScorer

    head = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[0.0, 0.0], [-1.0, 0.0], [-9.0, 0.0]]))
    scorer = VocabScorer(SimpleNamespace(lm_head=head, body=SimpleNamespace(config=SimpleNamespace())))
    scorer.to(torch.bfloat16)
    assert 1 < NEAR < 9
    h = torch.tensor([[1.0, 3.0], [1.0, -2.0]])
    with torch.no_grad():
        got = scorer.token_log_probs(h, torch.tensor([0, 2]))
    norm = math.log(1 + math.exp(-1) + math.exp(-9))
    assert got.tolist() == pytest.approx([-norm, -9 - norm], abs=1e-6)


def test_bf16_whole_sentence_scores_equal_the_fp32_product_over_the_same_weights(tiny_decoder, monkeypatch):
    """bf16 evaluation screens the vocabulary in bf16; the sentence scores stay those of the fp32 product over
    the same (bf16) weights and states (an infinite window: every row recomputed in fp32)."""
    from xshot.methods import heads
    from xshot.methods.prompt.sentences import token_log_probs, unpack
    from xshot.training.evaluate import to_inference_precision

    from xshot.methods.heads import NEAR

    model = make(tiny_decoder, "zero-shot", template="xglm")
    with torch.no_grad():  # spread the logits so that part of the vocabulary falls outside the fp32 window
        model.scorer.weight_source.weight.mul_(30)
    to_inference_precision(model, torch.bfloat16)
    batch = model.collate(model.encode(NLI))
    rows, shared = unpack(batch, 3)
    starts = [s for s in shared for _ in range(3)]
    with torch.no_grad():
        hidden = model.hidden_states
        states = {}
        model.hidden_states = lambda b: states.setdefault("h", hidden(b))  # one body pass for both paths
        screened = token_log_probs(model, rows, starts)
        monkeypatch.setattr(heads, "NEAR", math.inf)
        exact = token_log_probs(model, rows, starts)
    assert sum(map(len, screened)) > 3 * len(NLI)
    logits = model.scorer.full_vocabulary(states["h"].flatten(0, 1))
    tail = logits < logits.amax(-1, keepdim=True) - NEAR
    assert 0.2 < tail.float().mean() < 0.95  # both the fp32 window and the bf16 tail are exercised
    for a, b in zip(screened, exact):
        assert a.tolist() == pytest.approx(b.tolist(), abs=1e-4)
