"""On-disk cache of tokenized evaluation sets, reused across cells, runs and processes.

A study evaluates every cell on the same sets; tokenizing them again in every cell (and computing
their subword fertility) repeats the same work. :func:`cached_encode` returns the features of
``model.encode(data.examples)`` from the cache when an entry for the same

* tokenizer (hash of its files in a local directory, else of its serialized vocabulary and rules,
  plus its special tokens and added vocabulary),
* dataset content (hash of every example, labels included; the name does not matter), and
* input format (the model class and its label space, the :class:`~xshot.methods.inputs.InputFormat`
  parameters such as style, template, label-name prefix and ``max_length``, and the source of the
  modules that encode)

exists, and otherwise encodes and stores them. Entries are safetensors files (flat int32 arrays
with offsets and a JSON-string metadata header), never pickles, written atomically through
:func:`xshot.io.atomic_open`: concurrent writers of the same key both write the same content, and a
reader never sees half a file. An unreadable or inconsistent entry is treated as a miss and
rewritten; a cache directory that cannot be written only costs the re-encoding.

Location: ``$XSHOT_CACHE_DIR`` or ``~/.cache/xshot`` (entries under ``features/``); set
``XSHOT_NO_CACHE=1`` to disable it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from xshot.data.examples import Dataset
from xshot.methods.inputs import Feature

log = logging.getLogger("xshot")

FORMAT_VERSION = "2"
#: files that define a tokenizer's output (whichever of them a checkpoint directory has)
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model",
)
_CHUNK = 1 << 20

#: process-wide counters: hits, misses, stores, errors, and seconds spent encoding / reading
stats: Counter = Counter()
_lock = threading.Lock()
_file_digests: dict[tuple[str, int, int], str] = {}
_tokenizer_digests: "weakref.WeakKeyDictionary[Any, tuple[int, str]]" = weakref.WeakKeyDictionary()
_source_digests: dict[str, str] = {}
_warned: set[str] = set()


# -- where -------------------------------------------------------------------------------------------
def cache_dir() -> Path | None:
    """The cache root, or None when caching is disabled (``XSHOT_NO_CACHE``)."""
    if os.environ.get("XSHOT_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no"):
        return None
    root = os.environ.get("XSHOT_CACHE_DIR") or str(Path.home() / ".cache" / "xshot")
    return Path(root).expanduser()


def entry_path(key: str, root: Path | None = None) -> Path | None:
    root = root if root is not None else cache_dir()
    return None if root is None else root / "features" / f"{key}.safetensors"


# -- keys --------------------------------------------------------------------------------------------
def _sha(*parts: str | bytes) -> "hashlib._Hash":
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoised by (path, size, mtime) for the process."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if memo in _file_digests:
            return _file_digests[memo]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _lock:
        _file_digests[memo] = digest
    return digest


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """What determines the ids a tokenizer produces: its files (or serialized rules) and its live state."""
    size = len(tokenizer)
    try:
        with _lock:
            memo = _tokenizer_digests.get(tokenizer)
        if memo is not None and memo[0] == size:
            return memo[1]
    except TypeError:  # not weak-referenceable / hashable: no memo
        pass
    parts: list[str] = [type(tokenizer).__name__]
    source = Path(str(getattr(tokenizer, "name_or_path", "") or ""))
    files = [source / name for name in TOKENIZER_FILES if (source / name).is_file()] if source.is_dir() else []
    if files:
        parts += [f"{p.name}={file_digest(p)}" for p in files]
    else:  # a Hub id or an in-memory tokenizer: its full serialization (slower, once per process)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            parts.append(backend.to_str())
        else:
            parts.append(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False))
    # state that can differ from the files: tokens added or special tokens set after loading
    added = getattr(tokenizer, "get_added_vocab", lambda: {})()
    parts.append(json.dumps(sorted(added.items()), ensure_ascii=False))
    specials = {k: str(v) for k, v in sorted(getattr(tokenizer, "special_tokens_map", {}).items())}
    parts.append(json.dumps(specials, ensure_ascii=False, sort_keys=True))
    for attr in ("truncation_side", "padding_side", "model_max_length"):
        parts.append(f"{attr}={getattr(tokenizer, attr, None)}")
    parts.append(f"len={size}")
    digest = _sha(*parts).hexdigest()
    try:
        with _lock:
            _tokenizer_digests[tokenizer] = (size, digest)
    except TypeError:
        pass
    return digest


def dataset_fingerprint(data: Dataset) -> str:
    """Hash of the examples' content (texts and labels) and the task, independent of the set's name."""
    h = _sha(data.task)
    for ex in data.examples:
        h.update(json.dumps(ex.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def _source_digest(module_name: str) -> str:
    """Hash of a module's source file, so an edit to the encoding code invalidates old entries."""
    if module_name in _source_digests:
        return _source_digests[module_name]
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    digest = file_digest(Path(path)) if path and Path(path).is_file() else module_name
    _source_digests[module_name] = digest
    return digest


def format_fingerprint(model: Any) -> dict[str, Any]:
    """The parameters of ``model.encode``: model class, label space, input format, backbone framing."""
    fmt = model.input_format
    fmt_fields = {f.name: getattr(fmt, f.name) for f in dataclasses.fields(fmt) if f.name != "backbone"}
    bb = fmt.backbone
    labels = model.labels
    modules = sorted({"xshot.methods.inputs", "xshot.methods.base", type(model).__module__,
                      type(fmt).__module__, "xshot.data.stats"})  # stats: the fertility stored with the features
    return {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "labels": {"task": labels.task, "classes": list(labels.classes), "scheme": labels.scheme},
        "input_format": fmt_fields,
        "backbone": {"kind": bb.kind, "framing": dataclasses.asdict(bb.framing), "word_prefix": bb.word_prefix},
        "sources": {m: _source_digest(m) for m in modules},
    }


def feature_key(model: Any, data: Dataset) -> tuple[str, dict[str, Any]]:
    """The cache key of ``model.encode(data.examples)`` and the parts it hashes."""
    parts = {
        "version": FORMAT_VERSION,
        "tokenizer": tokenizer_fingerprint(model.backbone.tokenizer),
        "data": dataset_fingerprint(data),
        "format": format_fingerprint(model),
    }
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return _sha(payload).hexdigest()[:40], parts


# -- entries -----------------------------------------------------------------------------------------
def _flat(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((v for r in rows for v in r), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def _split(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    values, cuts = flat.tolist(), offsets.tolist()
    return [values[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def encode_arrays(features: list[Feature]) -> dict[str, np.ndarray]:
    ids, ids_off = _flat([f.input_ids for f in features])
    pos, pos_off = _flat([f.positions for f in features])
    lab, lab_off = _flat([f.labels or [] for f in features])
    tok, tok_off = _flat([f.token_labels or [] for f in features])
    return {
        "token_labels": tok, "token_label_offsets": tok_off,
        "has_token_labels": np.fromiter((f.token_labels is not None for f in features), dtype=np.uint8,
                                        count=len(features)),
        "input_ids": ids, "input_offsets": ids_off,
        "positions": pos, "position_offsets": pos_off,
        "labels": lab, "label_offsets": lab_off,
        "has_labels": np.fromiter((f.labels is not None for f in features), dtype=np.uint8, count=len(features)),
        "n_words": np.fromiter((f.n_words for f in features), dtype=np.int64, count=len(features)),
    }


def decode_arrays(arrays: dict[str, np.ndarray]) -> list[Feature]:
    n = len(arrays["n_words"])
    for name, values in (("input_offsets", "input_ids"), ("position_offsets", "positions"),
                         ("label_offsets", "labels"), ("token_label_offsets", "token_labels")):
        off, data = arrays[name], arrays[values]
        if len(off) != n + 1 or off[0] != 0 or off[-1] != len(data) or (np.diff(off) < 0).any():
            raise ValueError(f"inconsistent {name}")
    if len(arrays["has_labels"]) != n or len(arrays["has_token_labels"]) != n:
        raise ValueError("inconsistent has_labels")
    ids = _split(arrays["input_ids"], arrays["input_offsets"])
    pos = _split(arrays["positions"], arrays["position_offsets"])
    lab = _split(arrays["labels"], arrays["label_offsets"])
    tok = _split(arrays["token_labels"], arrays["token_label_offsets"])
    has, has_tok = arrays["has_labels"].tolist(), arrays["has_token_labels"].tolist()
    words = arrays["n_words"].tolist()
    return [Feature(i, p, l if h else None, n_words=w, token_labels=t if ht else None)
            for i, p, l, h, w, t, ht in zip(ids, pos, lab, has, words, tok, has_tok)]


def save_entry(path: Path, key: str, features: list[Feature], extras: dict[str, Any],
               parts: dict[str, Any] | None = None) -> None:
    """Write one entry atomically (safetensors: raw arrays plus string metadata, no code)."""
    from safetensors.numpy import save

    from xshot.io import atomic_open

    metadata = {"xshot_feature_cache": FORMAT_VERSION, "key": key, "n": str(len(features)),
                "extras": json.dumps(extras), "parts": json.dumps(parts or {}, default=str, ensure_ascii=False)}
    blob = save(encode_arrays(features), metadata=metadata)
    with atomic_open(path, "wb") as f:
        f.write(blob)


def load_entry(path: Path, key: str) -> tuple[list[Feature], dict[str, Any]] | None:
    """The entry's features and extras, or None if it is missing, of another key/version, or damaged."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            if meta.get("xshot_feature_cache") != FORMAT_VERSION or meta.get("key") != key:
                return None
            arrays = {name: f.get_tensor(name) for name in f.keys()}
        features = decode_arrays(arrays)
        if len(features) != int(meta["n"]):
            raise ValueError("wrong number of features")
        return features, json.loads(meta.get("extras") or "{}")
    except Exception as err:  # a damaged entry is a miss; it is rewritten below
        stats["errors"] += 1
        log.warning("ignoring unreadable feature cache entry %s: %s", path, err)
        return None


# -- the one call ------------------------------------------------------------------------------------
@dataclass
class CachedSet:
    features: list[Feature]
    extras: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    hit: bool = False
    seconds: float = 0.0


def cached_encode(model: Any, data: Dataset, extras: dict[str, Callable[[], Any]] | None = None,
                  root: Path | None = None) -> CachedSet:
    """``model.encode(data.examples)`` (and each of ``extras``, e.g. fertility), from the cache when possible.

    ``extras`` maps names to functions of nothing returning JSON-serialisable values that depend only on
    the same inputs as the features; they are computed on a miss and stored with the entry.
    """
    extras = extras or {}
    start = time.perf_counter()
    root = root if root is not None else cache_dir()
    key = path = parts = None
    if root is not None:
        try:
            key, parts = feature_key(model, data)
            path = entry_path(key, root)
        except Exception as err:  # an unusual tokenizer or format: no caching, never a failed run
            _warn_once("key", f"feature cache disabled for this set: cannot compute its key ({err})")
    if path is not None:
        found = load_entry(path, key)
        if found is not None and set(extras) <= set(found[1]):
            stats["hits"] += 1
            seconds = time.perf_counter() - start
            stats["read_s"] += seconds
            return CachedSet(found[0], {k: found[1][k] for k in extras}, key, True, seconds)
    features = model.encode(data.examples)
    values = {name: fn() for name, fn in extras.items()}
    stats["misses"] += 1
    stats["encode_s"] += time.perf_counter() - start
    if path is not None:
        try:
            save_entry(path, key, features, values, parts)
            stats["stores"] += 1
        except OSError as err:
            _warn_once(str(root), f"cannot write the feature cache under {root}: {err}")
    return CachedSet(features, values, key, False, time.perf_counter() - start)


def _warn_once(what: str, message: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning(message)
