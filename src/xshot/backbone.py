"""Loading a pretrained backbone and learning what kind it is.

xshot needs three facts about a checkpoint before it builds a method: whether it is an encoder
(bidirectional, ``<mask>`` cloze) or a decoder (causal, next-token scoring), whether it ships a
pretrained LM head, and how its tokenizer frames a sequence with special tokens. Everything else
(templates, heads, positions) is derived from these, so no method has per-architecture code.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

from xshot.errors import Unavailable, XshotError
from xshot.hardware import cpu_has_native_bf16, cpu_has_native_fp16, cuda_has_native_bf16, device_name_error

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


def load_backbone(name: str, *, trust_remote_code: bool = False, want_lm_head: bool = True,
                  check: Callable[[Kind, bool], None] | None = None) -> Backbone:
    """Load tokenizer and model from a local directory or the Hugging Face Hub.

    ``check(kind, has_pretrained_lm_head)`` may refuse the backbone once its config is read, before any
    weight loads.
    """
    from transformers import AutoConfig

    alias, name = name, _resolve(name)
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        kind = model_kind(config)
        if check is not None:
            check(kind, has_pretrained_lm_head(config, kind))
        tokenizer = load_tokenizer(name, trust_remote_code)
    except (OSError, ValueError) as err:
        raise _unavailable(alias, name, err) from err
    with_head = want_lm_head and has_pretrained_lm_head(config, kind)
    try:
        body, lm_head = _weights(name, config, kind, with_head, trust_remote_code)
    except OSError as err:
        raise _unavailable(alias, name, err) from err
    return Backbone(
        name=name,
        kind=kind,
        body=body,
        lm_head=lm_head,
        tokenizer=tokenizer,
        framing=_probe_framing(tokenizer),
        word_prefix=_probe_word_prefix(tokenizer),
    )


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str, trust_remote_code: bool = False):
    """A checkpoint's tokenizer, loaded once per process and shared by the cells a process runs.

    With transformers 5, loading XLM-R's fast tokenizer (it parses the 17 MB ``tokenizer.json`` in Python
    and again in Rust) takes about 4 s where the model's weights take 0.2 s (me5-small, measured on one
    core): most of a short cell's load time. Nothing in xshot changes a tokenizer after this function
    (decoders without a padding token get their end-of-sequence token here, once).
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _resolve(name: str) -> str:
    from xshot.settings import resolve_model

    try:
        return resolve_model(name)
    except XshotError as err:
        raise Unavailable(err.message, f"model:{name}") from None


def _unavailable(alias: str, name: str, err: Exception) -> Unavailable:
    from xshot.settings import known_aliases

    shown = repr(alias) if alias == name else f"{alias!r} ({name})"
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    hint = "" if alias != name or "/" in name else f"; known aliases: {', '.join(known_aliases())}"
    return Unavailable(f"cannot load model {shown}: {reason}{hint}", f"model:{alias}")


#: how many checkpoints' weights a process keeps in memory, and the most bytes it keeps of one (fp32 weights
#: of up to 1B parameters; larger ones are loaded afresh by each cell)
KEEP_CHECKPOINTS = 2
KEEP_BYTES = 4 * 2**30
_kept: OrderedDict[tuple, tuple[nn.Module, nn.Module | None]] = OrderedDict()


def _weights(name: str, config, kind: Kind, with_head: bool,
             trust_remote_code: bool) -> tuple[nn.Module, nn.Module | None]:
    """Body and LM head as the checkpoint has them, loaded once per process and copied for each caller.

    Consecutive cells of a study share a checkpoint; a copy in memory (0.4 s for gemma3-270m) replaces a
    load from disk (1-5 s warm, 12 s cold). The kept weights never leave this function, so no cell sees
    another's changes; a local checkpoint rewritten on disk is loaded again. Loading draws nothing from the
    caller's random generator (transformers initialises weights before it overwrites them), so a copied
    backbone leaves the generator, and what a method then initialises from it, as a loaded one does.
    """
    key = (name, with_head, trust_remote_code, _fingerprint(name))
    if key in _kept:
        _kept.move_to_end(key)
        return copy.deepcopy(_kept[key])  # one deep copy of both keeps a tied head tied to the body
    with torch.random.fork_rng(devices=[]), _quiet_transformers():
        loaded = _load_weights(name, config, kind, with_head, trust_remote_code)
    if sum(p.numel() * p.element_size() for p in loaded[0].parameters()) <= KEEP_BYTES:
        _kept[key] = copy.deepcopy(loaded)
        while len(_kept) > KEEP_CHECKPOINTS:
            _kept.popitem(last=False)
    return loaded


def _fingerprint(name: str) -> tuple:
    """What identifies a local checkpoint's files as they are now (nothing for a Hub name: its revision is
    fixed in the cache)."""
    if not os.path.isdir(name):
        return ()
    return tuple(sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                        for entry in os.scandir(name) if entry.is_file()))


def _load_weights(name: str, config, kind: Kind, with_head: bool,
                  trust_remote_code: bool) -> tuple[nn.Module, nn.Module | None]:
    """Body and (when asked) LM head, with every weight from the checkpoint: none left at random.

    Some checkpoints keep tied input embeddings only under the LM head's name (``lm_head.weight``);
    the body class alone would then initialise its embeddings at random, so such a checkpoint is loaded
    through its head class, which ties them back, and the head is dropped.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    options = dict(trust_remote_code=trust_remote_code, dtype=torch.float32, output_loading_info=True)
    if not with_head:
        body, info = AutoModel.from_pretrained(name, **options)
        if not _missing(info):
            if kind == "decoder" and hasattr(body, "base_model") and body.base_model is not body:
                body = body.base_model
            return body, None
        if not has_pretrained_lm_head(config, kind):
            raise _random_weights(name, _missing(info))
    auto = AutoModelForMaskedLM if kind == "encoder" else AutoModelForCausalLM
    full, info = auto.from_pretrained(name, **options)
    if _missing(info):
        raise _random_weights(name, _missing(info))
    body, head = _split_head(full)
    return body, head if with_head else None


def _missing(loading_info: dict) -> list[str]:
    """Weights the checkpoint lacks, except the BERT pooler, which xshot never reads."""
    return sorted(k for k in loading_info["missing_keys"] if "pooler" not in k.split("."))


def _random_weights(name: str, missing: list[str]) -> XshotError:
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    return XshotError(f"cannot load model {name!r}: its checkpoint has no weights for {', '.join(missing[:3])}{more} "
                      "(they would be random)")


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
    """The device a run asked for (``RunConfig.device``), checked to exist here before anything loads."""
    if error := device_name_error(requested):
        raise XshotError(error)
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                why = f"torch {torch.__version__} is built without CUDA" if torch.version.cuda is None and \
                    not torch.version.hip else "torch sees no GPU"
                raise XshotError(f"device {requested}: no CUDA device on this machine ({why}); use auto or cpu")
            if device.index is not None and device.index >= count:
                raise XshotError(f"device {requested}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
        elif device.type == "mps" and not _mps_available():
            raise XshotError(f"device {requested}: no Apple GPU (MPS) on this machine; use auto or cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def select_precision(device: torch.device, requested: str = "auto") -> torch.dtype | None:
    """The autocast dtype: with ``auto``, bf16 where the device multiplies it natively (CPUs with bf16 matrix
    units, GPUs from compute capability 8.0), fp16 on older GPUs (whose tensor cores have fp16 and no bf16),
    none (fp32) on other CPUs and MPS."""
    if requested == "fp32":
        return None
    if requested == "auto":
        if device.type == "cpu":
            return torch.bfloat16 if cpu_has_native_bf16() else None
        if device.type != "cuda":
            return None
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
    if _emulated(requested, device):
        _warn_emulated(requested, device.type)
    return torch.bfloat16 if requested == "bf16" else torch.float16


def _emulated(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (bf16 or fp16) has no matrix units on ``device``, as far as xshot can tell."""
    if device.type == "cuda":
        return precision == "bf16" and not cuda_has_native_bf16(device)
    if device.type != "cpu":
        return False
    return not cpu_has_native_bf16() if precision == "bf16" else cpu_has_native_fp16() is False


EMULATED = {
    ("bf16", "cuda"): "precision bf16 on a GPU below compute capability 8.0: its tensor cores have no bf16, so bf16 is "
                      "emulated and slower than fp16; precision auto (fp16 there) is faster on this GPU",
    ("bf16", "cpu"): "precision bf16 on a CPU without bf16 matrix units (no AMX-BF16 / AVX512-BF16): bf16 is emulated "
                     "here and slower than fp32 (an AMD EPYC without them: 6x per forward pass, 18x per training step, "
                     "benchmarks/auto_precision.py); precision auto or fp32 is faster on this machine",
    ("fp16", "cpu"): "precision fp16 on a CPU without fp16 matrix units (no AMX-FP16 / AVX512-FP16): fp16 is emulated "
                     "here (an AMD EPYC without them: 150x slower per matrix product than fp32); precision auto or "
                     "fp32 is faster on this machine",
}


@functools.cache
def _warn_emulated(precision: str, device_type: str) -> None:
    logging.getLogger("xshot").warning(EMULATED[(precision, device_type)])


def precision_name(dtype: torch.dtype | None) -> str:
    """How results name a precision: ``bf16``, ``fp16`` or ``fp32``."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


logging.getLogger("transformers").setLevel(logging.ERROR)
