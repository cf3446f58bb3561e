"""Input formats put scored positions where they belong; label spaces decode to valid IOB2."""

import pytest
import torch

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import load_backbone
from xshot.data.examples import NERExample
from xshot.methods.base import LabelSpace
from xshot.methods.inputs import InputFormat


def test_cloze_position_is_the_mask_and_plain_is_cls(tiny_encoder):
    bb = load_backbone(tiny_encoder)
    cloze = InputFormat(bb, "cloze", 64, template="{premise} ? {mask} , {hypothesis}")
    for f in cloze.encode_nli(NLI, ("entailment", "neutral", "contradiction")):
        assert f.input_ids[f.positions[0]] == bb.tokenizer.mask_token_id
    plain = InputFormat(bb, "plain", 64).encode_nli(NLI[:1], ("entailment", "neutral", "contradiction"))
    assert plain[0].positions == [0] and plain[0].labels == [0]


def test_decoder_nli_reads_the_last_token(tiny_decoder):
    bb = load_backbone(tiny_decoder)
    for style in ("plain", "cloze"):
        fmt = InputFormat(bb, style, 64, template="{premise} question : {hypothesis} answer :")
        for f in fmt.encode_nli(NLI, ("entailment", "neutral", "contradiction")):
            assert f.positions == [len(f.input_ids) - 1]


def test_ner_positions_are_first_subtokens_of_each_word(tiny_encoder):
    bb = load_backbone(tiny_encoder)
    ex = NERExample(("organization", "met", "paris"), ("B-ORG", "O", "B-LOC"))
    (f,) = InputFormat(bb, "plain", 64).encode_ner([ex], LabelSpace.for_task("ner", TYPES).tag_index())
    tok = bb.tokenizer
    assert [f.input_ids[p] for p in f.positions] == [tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in ex.tokens]
    assert f.positions == [1, 3, 4]  # "organization" takes two sub-tokens after [CLS]
    assert f.input_ids[0] == tok.cls_token_id and f.input_ids[-1] == tok.sep_token_id


def test_truncated_words_are_predicted_o_and_kept_in_length(tiny_encoder):
    bb = load_backbone(tiny_encoder)
    ex = NERExample(tuple(["paris"] * 20), tuple(["B-LOC"] * 20))
    space = LabelSpace.for_task("ner", TYPES, "io")
    (f,) = InputFormat(bb, "plain", 12).encode_ner([ex], space.tag_index())
    assert len(f.positions) == 10 and f.n_words == 20 and len(f.input_ids) == 12
    tags = space.decode_ner([space.classes.index("LOC")] * 10, f.n_words)
    assert len(tags) == 20 and tags[10:] == ["O"] * 10


def test_label_prefix_spans_cover_the_label_names(tiny_encoder):
    bb = load_backbone(tiny_encoder)
    fmt = InputFormat(bb, "label-prefix", 64, label_names=["organization", "person", "other"])
    (f,) = fmt.encode_ner(NER[:1], LabelSpace.for_task("ner", TYPES, "io").tag_index())
    tok = bb.tokenizer
    assert [tok.decode([f.input_ids[i] for i in span]).replace(" ##", "") for span in fmt.label_spans] == \
        ["organization", "person", "other"]
    assert fmt.label_spans[0] == [1, 2]  # right after [CLS]
    assert all(f.input_ids[p] == tok(" " + w, add_special_tokens=False)["input_ids"][0]
               for p, w in zip(f.positions, NER[0].tokens))


@pytest.mark.parametrize("scheme", ["io", "bio"])
def test_label_space_roundtrip_and_repair(scheme):
    space = LabelSpace.for_task("ner", ("LOC", "PER"), scheme)
    index = space.tag_index()
    gold = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert space.decode_ner([index[t] for t in gold], 5) == gold
    assert index["B-MISC"] == 0  # unknown types read as O
    if scheme == "bio":
        # I- after O and a type switch are repaired into valid IOB2
        ids = [space.classes.index(c) for c in ["I-PER", "I-PER", "O", "I-LOC", "I-PER"]]
        assert space.decode_ner(ids, 5) == ["B-PER", "I-PER", "O", "B-LOC", "B-PER"]
    else:
        ids = [space.classes.index(c) for c in ["PER", "PER", "LOC", "O", "LOC"]]
        assert space.decode_ner(ids, 6) == ["B-PER", "I-PER", "B-LOC", "O", "B-LOC", "O"]


def test_collate_pads_positions_and_labels():
    from xshot.methods.base import collate
    from xshot.methods.inputs import Feature

    batch = collate([Feature([1, 2, 3], [1, 2], [4, 0]), Feature([1, 2], [1], [3])], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [1, 2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[4, 0], [3, -100]]
    assert batch["position_mask"].tolist() == [[True, True], [True, False]]
    assert "labels" not in collate([Feature([1], [0], None)], pad_id=0)
    assert torch.is_tensor(batch["positions"])
