"""Tiny randomly initialised backbones with a real WordPiece tokenizer, built offline for unit tests."""

from __future__ import annotations

from pathlib import Path

WORDS = """the a an is are was of in on at and or not no yes maybe to it he she they man woman cat dog
plays playing music guitar sleeps barks rain raining sun shining kids children play visited met city
paris london obama barack un john smith may june person location date other entailment neutral
contradiction question answer ? , . : premise hypothesis label""".split()
PIECES = ["organ", "##ization", "##s", "##ing", "##ed", "misc", "##ellaneous", "contra", "##diction"]


def build_tokenizer(kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS + PIECES + [c for c in "abcdefghijklmnopqrstuvwxyz"]
                                            + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if kind == "encoder":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        extra = dict(cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", vocab["[BOS]"])])
        extra = dict(bos_token="[BOS]")
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", **extra)


def build_tiny(kind: str, directory: Path, with_head: bool = True) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = build_tokenizer(kind)
    vocab = len(tokenizer)
    if kind == "encoder":
        config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, pad_token_id=0)
        model = BertForMaskedLM(config) if with_head else BertModel(config)
    else:
        config = LlamaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=1, intermediate_size=64, max_position_embeddings=128,
                             pad_token_id=0, bos_token_id=5, eos_token_id=3, tie_word_embeddings=True)
        model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
