"""Verbalizer scoring (multi-token words, restricted heads) and soft-prompt position alignment."""

import pytest
import torch

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import load_backbone
from xshot.methods import get_method
from xshot.methods.heads import at_or_above, block_maxima, mean_word_scores, near_top


def prompt_model(path, task="nli", method="prompt", **options):
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head)
    model = spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=64, source_language="en")
    return model.eval()


def test_mean_word_scores_by_hand():
    logits = torch.tensor([[1.0, 3.0, 5.0, 0.0, 2.0, 9.0]])  # 3 classes x 2 sub-token slots
    mask = torch.tensor([[True, True], [True, False], [True, True]])
    assert mean_word_scores(logits, mask).tolist() == [[2.0, 5.0, 5.5]]


def test_block_maxima_by_hand():
    logits = torch.tensor([[1.0, 7.0, 2.0, 4.0, 3.0], [0.0, -1.0, 5.0, 5.0, -2.0]])
    assert block_maxima(logits, block=2).tolist() == [[7.0, 4.0, 3.0], [0.0, 5.0, -2.0]]  # last block: 1 column
    assert block_maxima(logits, block=5).tolist() == [[7.0], [5.0]]
    assert block_maxima(logits, block=8).tolist() == [[7.0], [5.0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_block_maxima_as_bits_by_hand(dtype):
    """Exact where a block holds a value >= 0; a block of negative values only reads as its most negative."""
    logits = torch.tensor([[1.0, 7.0, -2.0, 4.0, 3.0], [-0.5, -1.0, 5.0, -0.0, -2.0], [0.0, -3.0, -1.0, -4.0, -2.0]])
    got = block_maxima(logits.to(dtype), block=2, as_bits=True)
    assert got.float().tolist() == [[7.0, 4.0, 3.0], [-1.0, 5.0, -2.0], [0.0, -4.0, -2.0]]  # last block: as floats


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 100, 101, 512])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_near_top_finds_the_maximum_and_what_comparing_every_logit_finds(block, dtype):
    """Thresholds above, at and below 0, -0.0 logits, rows of negative logits only and a row of -inf: the top and
    the hits equal the brute force's."""
    gen = torch.Generator().manual_seed(block)
    logits = torch.randint(-6, 6, (10, 101), generator=gen).to(dtype) / 2  # many exact ties, zeros
    logits[2] = -logits[2].abs() - 0.5  # negative only
    logits[4] = -torch.inf
    logits[7, ::3] = -0.0
    window = torch.tensor([0.5, 2.5, 1.0, 0.0, 1.0, 3.0, 10.0, 2.5, 0.0, 100.0]).to(dtype)
    top, pos, col = near_top(logits, lambda top: top - window, block)
    assert torch.equal(top, logits.amax(-1))
    expected = (logits >= (logits.amax(-1) - window)[:, None]).nonzero(as_tuple=True)
    assert torch.equal(pos, expected[0]) and torch.equal(col, expected[1])


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 100, 101, 512])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_blocked_search_finds_what_comparing_every_logit_finds(block, dtype):
    """Every (position, column) at or above the threshold, in row-major order, with ties at the threshold, a
    threshold no logit reaches, and a row of -inf."""
    gen = torch.Generator().manual_seed(block)
    logits = torch.randint(-6, 6, (9, 101), generator=gen).to(dtype) / 2  # many exact ties
    logits[4] = -torch.inf
    threshold = torch.tensor([2.5, 0.0, 3.0, -3.0, 0.0, 10.0, 2.0, 1.5, -torch.inf]).to(dtype)
    expected = (logits >= threshold[:, None]).nonzero(as_tuple=True)
    found = at_or_above(logits, block_maxima(logits, block), threshold, block)
    assert torch.equal(found[0], expected[0]) and torch.equal(found[1], expected[1])
    assert torch.equal(block_maxima(logits, block).amax(-1), logits.amax(-1))


def test_encoder_multitoken_words_score_mean_logprob_at_the_mask(tiny_encoder):
    words = {"entailment": "organization", "neutral": "maybe", "contradiction": "no"}  # 2, 1, 1 sub-tokens
    model = prompt_model(tiny_encoder, label_words=words)
    assert model.word_mask.sum(-1).tolist() == [2, 1, 1]
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        scores = model(batch)
        hidden = model.hidden_states(batch)
        at_mask = hidden[torch.arange(len(NLI)), batch["positions"][:, 0]]
        logprobs = torch.log_softmax(model.scorer.lm_head(at_mask), -1)
    tok = model.backbone.tokenizer
    ids = [tok(" " + w, add_special_tokens=False)["input_ids"] for w in words.values()]
    manual = torch.stack([logprobs[:, i].mean(-1) for i in ids], dim=-1)
    # scores equal mean sub-token log-probabilities up to the per-example log-normaliser
    diff = scores - manual
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-5)
    assert torch.equal(scores.argmax(-1), manual.argmax(-1))
    assert torch.allclose(torch.log_softmax(scores, -1), torch.log_softmax(manual, -1), atol=1e-5)


def test_decoder_multitoken_words_are_scored_autoregressively(tiny_decoder):
    words = {"entailment": "organization", "neutral": "maybe", "contradiction": "no"}
    model = prompt_model(tiny_decoder, label_words=words)
    assert model.autoregressive
    features = model.encode(NLI[:2])
    with torch.no_grad():
        scores = model(model.collate(features))
    tok = model.backbone.tokenizer
    for row, feature in enumerate(features):
        for c, word in enumerate(words.values()):
            cont = tok(" " + word, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([feature.input_ids + cont])
            with torch.no_grad():
                h = model.body(input_ids=ids).last_hidden_state
                logp = torch.log_softmax(model.scorer.lm_head(h), -1)[0]
            start = len(feature.input_ids) - 1
            expected = sum(logp[start + j, t].item() for j, t in enumerate(cont)) / len(cont)
            assert scores[row, c].item() == pytest.approx(expected, abs=1e-4)


def test_decoder_single_token_fast_path_equals_full_vocabulary(tiny_decoder):
    model = prompt_model(tiny_decoder)  # default words yes / maybe / no are single tokens
    assert not model.autoregressive
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        fast = model(batch)
        h = model.hidden_states(batch)[torch.arange(len(NLI)), batch["positions"][:, 0]]
        full = model.scorer.lm_head(h)[:, model.word_ids[:, 0]]
    assert torch.allclose(fast, full, atol=1e-5)


def test_entlm_restricted_scores_the_token_itself_for_o(tiny_encoder):
    model = prompt_model(tiny_encoder, task="ner", ner_objective="restricted")
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        logits = model(batch)
        hidden = model.hidden_states(batch)
        full = model.scorer.lm_head(hidden)
    b, p = 0, 3  # "paris"
    pos = batch["positions"][b, p]
    own = batch["input_ids"][b, pos]
    assert logits[b, p, 0].item() == pytest.approx(full[b, pos, own].item(), abs=1e-5)
    assert model.labels.classes == ("O", *TYPES)


def test_soft_prompt_outputs_are_sliced_back_into_alignment(tiny_encoder):
    """Virtual tokens shift every position; the model must read token i at i, not at i - N."""
    torch.manual_seed(0)
    model = prompt_model(tiny_encoder, task="ner", method="soft-prompt", head="linear", num_virtual_tokens=5)
    assert model.virtual_tokens == 5
    batch = model.collate(model.encode(NER))
    with torch.no_grad():
        hidden = model.hidden_states(batch)
        # manual reference: prompt embeddings prepended by hand to the frozen base model
        base = model.body.get_base_model()
        prompt = model.body.get_prompt(batch_size=len(NER))
        embeds = torch.cat([prompt, base.get_input_embeddings()(batch["input_ids"])], dim=1)
        mask = torch.cat([torch.ones(len(NER), 5, dtype=torch.long), batch["attention_mask"]], dim=1)
        reference = base(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    assert hidden.shape == batch["input_ids"].shape + (hidden.size(-1),)
    assert torch.allclose(hidden, reference[:, 5:], atol=1e-5)
    assert not torch.allclose(hidden, reference[:, :-5], atol=1e-3)  # the unsliced (misaligned) reading differs
    # the loss uses the aligned states: cross-entropy of the head at the word positions
    labels = batch["labels"]
    logits = model.head(model.at(hidden, batch["positions"]))
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)
    model.eval()
    assert model.loss(batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_peft_token_classification_would_misalign(tiny_encoder):
    """The pitfall the slicing avoids: peft's token-classification wrapper returns N extra positions."""
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForTokenClassification

    base = AutoModelForTokenClassification.from_pretrained(tiny_encoder, num_labels=3)
    wrapped = get_peft_model(base, PromptTuningConfig(task_type="TOKEN_CLS", num_virtual_tokens=4))
    ids = torch.tensor([[2, 6, 29, 3]])
    out = wrapped(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.logits.shape[1] == ids.shape[1] + 4


@pytest.mark.parametrize("arch", ["xlm-roberta", "bert"])
def test_a_real_mlm_head_scores_label_words_exactly_at_the_mask(tmp_path, arch):
    """XLM-R's and BERT's own MLM heads (transform, tied decoder, bias) give the prompt's label-word scores."""
    from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

    from tests.tiny_models import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer("encoder")
    common = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=130, pad_token_id=0)
    full = XLMRobertaForMaskedLM(XLMRobertaConfig(**common)) if arch == "xlm-roberta" else BertForMaskedLM(BertConfig(**common))
    with torch.no_grad():  # a non-zero output bias, so a scorer that forgot it would differ
        full.get_output_embeddings().bias.normal_(0, 1)
    full.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    for method in ("prompt", "zero-shot"):
        model = prompt_model(str(tmp_path), method=method)
        assert model.scorer.mode == "mlm-head" and any("pretrained MLM head" in n for n in model.notes)
        decoder = [m for m in model.scorer.lm_head.modules() if isinstance(m, torch.nn.Linear)][-1]
        assert decoder.weight is model.body.get_input_embeddings().weight  # still tied to the embeddings
        batch = model.collate(model.encode(NLI))
        reference = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
        with torch.no_grad():
            scores = model(batch)
            logits = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            at_mask = logits[torch.arange(len(NLI)), batch["positions"][:, 0]]
        expected = at_mask[:, model.word_ids[:, 0]]  # yes / maybe / no: one sub-token each
        assert model.word_mask.sum(-1).tolist() == [1, 1, 1]
        assert torch.allclose(scores, expected, atol=1e-5)


def test_scores_stay_fp32_when_the_weights_are_bf16(tiny_encoder):
    """bf16 evaluation casts the weights; the class scores are still computed in fp32 from them."""
    from torch.nn import functional as F

    from xshot.methods.heads import LinearHead, VocabScorer
    from xshot.training.evaluate import to_inference_precision

    torch.manual_seed(0)
    head = LinearHead(8, 3, dropout=0.0).eval()
    h = torch.randn(4, 8).bfloat16()
    to_inference_precision(head, torch.bfloat16)
    assert head.linear.weight.dtype == torch.bfloat16
    out = head(h)
    expected = F.linear(h.float(), head.linear.weight.float(), head.linear.bias.float())
    assert out.dtype == torch.float32 and torch.equal(out, expected)

    backbone = load_backbone(tiny_encoder, want_lm_head=True)
    scorer = VocabScorer(backbone)
    to_inference_precision(scorer, torch.bfloat16)
    states = torch.randn(2, backbone.body.config.hidden_size).bfloat16()
    ids = torch.tensor([5, 7, 9])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = scorer(states, ids)
    assert logits.dtype == torch.float32
    full = scorer.full_vocabulary(states)
    assert full.dtype == torch.float32 and torch.allclose(full[:, ids], logits)

    assert to_inference_precision(head, None) is head and head.linear.weight.dtype == torch.bfloat16  # fp32: untouched
