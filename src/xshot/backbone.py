"""Loading a pretrained backbone and learning what kind it is.

xshot needs three facts about a checkpoint before it builds a method: whether it is an encoder
(bidirectional, ``<mask>`` cloze) or a decoder (causal, next-token scoring), whether it ships a
pretrained LM head, and how its tokenizer frames a sequence with special tokens. Everything else
(templates, heads, positions) is derived from these, so no method has per-architecture code.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from xshot.errors import XshotError

Kind = Literal["encoder", "decoder"]


@dataclass
class Framing:
    """Special tokens a tokenizer wraps around one sequence and between a pair."""

    prefix: list[int]
    suffix: list[int]
    pair_separator: list[int]


@dataclass
class Backbone:
    """A transformer body returning hidden states, its LM head (if any) and its tokenizer."""

    name: str
    kind: Kind
    body: nn.Module
    lm_head: nn.Module | None
    tokenizer: object
    framing: Framing
    word_prefix: str  # what goes before a non-initial word so it tokenizes as in running text

    @property
    def hidden_size(self) -> int:
        return self.body.config.hidden_size

    @property
    def input_embeddings(self) -> nn.Embedding:
        return self.body.get_input_embeddings()

    def word_ids(self, words: list[str], first: bool) -> list[list[int]]:
        """Sub-token ids of words as they appear in running text (not as isolated strings)."""
        texts = [w if (first and i == 0) else self.word_prefix + w for i, w in enumerate(words)]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def model_kind(config) -> Kind:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise XshotError(f"model type {config.model_type!r} is neither an encoder (masked LM) nor a decoder (causal LM)")


def has_pretrained_lm_head(config, kind: Kind) -> bool:
    """Decoders always carry their (often tied) LM head; encoders only if the checkpoint names one."""
    if kind == "decoder":
        return True
    archs = config.architectures or []
    return any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in archs)


def _probe_framing(tokenizer) -> Framing:
    """Find the special tokens around a sequence by tokenizing a probe with and without them."""
    a = tokenizer("a", add_special_tokens=False)["input_ids"]
    b = tokenizer("b", add_special_tokens=False)["input_ids"]
    single = tokenizer("a")["input_ids"]
    start = _find(single, a)
    prefix, suffix = single[:start], single[start + len(a):]
    pair = tokenizer("a", "b")["input_ids"]
    i, j = _find(pair, a), _find(pair, b, after=_find(pair, a) + len(a))
    between = pair[i + len(a): j]
    return Framing(prefix=prefix, suffix=suffix, pair_separator=between or list(suffix))


def _find(seq: list[int], sub: list[int], after: int = 0) -> int:
    for i in range(after, len(seq) - len(sub) + 1):
        if seq[i: i + len(sub)] == sub:
            return i
    raise XshotError("could not locate probe tokens in the tokenizer's output; unsupported tokenizer")


def _probe_word_prefix(tokenizer) -> str:
    joint = tokenizer("hello world", add_special_tokens=False)["input_ids"]
    head = tokenizer("hello", add_special_tokens=False)["input_ids"]
    for prefix in (" ", ""):
        if head + tokenizer(prefix + "world", add_special_tokens=False)["input_ids"] == joint:
            return prefix
    return " "


def load_backbone(name: str, *, trust_remote_code: bool = False, want_lm_head: bool = True) -> Backbone:
    """Load tokenizer and model from a local directory or the Hugging Face Hub."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise XshotError(f"cannot load model {name!r}: {str(err).splitlines()[0]}") from err
    kind = model_kind(config)
    with_head = want_lm_head and has_pretrained_lm_head(config, kind)
    with _quiet_transformers():
        if with_head:
            auto = AutoModelForMaskedLM if kind == "encoder" else AutoModelForCausalLM
            full = auto.from_pretrained(name, trust_remote_code=trust_remote_code, dtype=torch.float32)
            body, lm_head = _split_head(full)
        else:
            body = AutoModel.from_pretrained(name, trust_remote_code=trust_remote_code, dtype=torch.float32)
            if kind == "decoder" and hasattr(body, "base_model") and body.base_model is not body:
                body = body.base_model
            lm_head = None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Backbone(
        name=name,
        kind=kind,
        body=body,
        lm_head=lm_head,
        tokenizer=tokenizer,
        framing=_probe_framing(tokenizer),
        word_prefix=_probe_word_prefix(tokenizer),
    )


def _split_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Separate a *ForMaskedLM / *ForCausalLM model into its body and its head module."""
    body = model.base_model
    heads = [m for n, m in model.named_children() if m is not body]
    if len(heads) != 1:
        raise XshotError(f"cannot identify the LM head of {type(model).__name__}")
    return body, heads[0]


def count_parameters(module: nn.Module) -> dict[str, int]:
    seen: set[int] = set()
    total = trainable = 0
    for p in module.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"trainable": trainable, "total": total}


def select_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def select_precision(device: torch.device, requested: str = "auto") -> torch.dtype | None:
    """The autocast dtype: bf16 on GPUs that support it, fp16 on older GPUs, none (fp32) on CPU/MPS."""
    if requested == "fp32" or (requested == "auto" and device.type != "cuda"):
        return None
    if requested == "bf16" or (requested == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


logging.getLogger("transformers").setLevel(logging.ERROR)
