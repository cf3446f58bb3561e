"""The on-disk cache of tokenized evaluation sets (xshot.training.cache), on tiny offline models."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil

import pytest
import torch

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import load_backbone
from xshot.data.examples import Dataset, NLIExample
from xshot.methods import get_method
from xshot.training import cache


def build(path, method="finetune", task="nli", max_length=64, **options):
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head)
    return spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=max_length,
                      source_language="en")


def nli(examples=NLI, name="tiny:nli"):
    return Dataset("nli", list(examples), name, "en", ("entailment", "neutral", "contradiction"))


def ner(examples=NER, name="tiny:ner"):
    return Dataset("ner", list(examples), name, "en", TYPES)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("XSHOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XSHOT_NO_CACHE", raising=False)
    return tmp_path / "cache"


def entries(root):
    return sorted((root / "features").glob("*.safetensors")) if (root / "features").is_dir() else []


@pytest.mark.parametrize("method,task", [("finetune", "nli"), ("prompt", "nli"), ("dualcl", "nli"),
                                         ("finetune", "ner"), ("prompt", "ner")])
def test_miss_then_hit_returns_the_same_features(tiny_encoder, root, method, task):
    model = build(tiny_encoder, method, task)
    data = nli() if task == "nli" else ner()
    first = cache.cached_encode(model, data, {"answer": lambda: 42})
    assert not first.hit and first.features == model.encode(data.examples)
    assert [p.name for p in entries(root)] == [f"{first.key}.safetensors"]
    second = cache.cached_encode(model, data, {"answer": lambda: pytest.fail("extras recomputed on a hit")})
    assert second.hit and second.key == first.key
    assert second.features == first.features and second.extras == {"answer": 42}


def test_fresh_model_and_renamed_set_hit(tiny_encoder, root):
    first = cache.cached_encode(build(tiny_encoder), nli(name="a"))
    again = cache.cached_encode(build(tiny_encoder), nli(name="b"))  # new process state, same content
    assert again.hit and again.key == first.key


def test_key_changes_with_data_content(tiny_encoder, root):
    model = build(tiny_encoder)
    base = cache.feature_key(model, nli())[0]
    relabelled = [dataclasses.replace(NLI[0], label="neutral"), *NLI[1:]]
    reworded = [dataclasses.replace(NLI[0], premise=NLI[0].premise + " ."), *NLI[1:]]
    keys = {base, cache.feature_key(model, nli(relabelled))[0], cache.feature_key(model, nli(reworded))[0],
            cache.feature_key(model, nli(NLI[:-1]))[0]}
    assert len(keys) == 4


def test_key_changes_with_format_method_and_max_length(tiny_encoder, tiny_decoder, root):
    data = nli()
    keys = {
        cache.feature_key(build(tiny_encoder, "finetune"), data)[0],
        cache.feature_key(build(tiny_encoder, "finetune", max_length=32), data)[0],
        cache.feature_key(build(tiny_encoder, "prompt"), data)[0],
        cache.feature_key(build(tiny_encoder, "prompt", template="{premise} . {mask} : {hypothesis}"), data)[0],
        cache.feature_key(build(tiny_encoder, "dualcl"), data)[0],
        cache.feature_key(build(tiny_decoder, "finetune"), data)[0],
    }
    assert len(keys) == 6
    # the peft methods with a linear head encode alike: they share the entry
    assert cache.feature_key(build(tiny_encoder, "lora", head="linear"), data)[0] == \
        cache.feature_key(build(tiny_encoder, "ia3", head="linear"), data)[0]


def test_tokenizer_change_invalidates(tiny_encoder, tmp_path, root):
    data = nli()
    key = cache.cached_encode(build(tiny_encoder), data).key
    # the same model with an edited tokenizer file (one more vocabulary entry)
    edited = tmp_path / "edited"
    shutil.copytree(tiny_encoder, edited)
    spec = json.loads((edited / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    vocab["guitars"] = max(vocab.values()) + 1
    (edited / "tokenizer.json").write_text(json.dumps(spec))
    assert cache.cached_encode(build(str(edited)), data).key != key
    # tokens added after loading change the key too
    model = build(tiny_encoder)
    model.backbone.tokenizer.add_tokens(["playing-guitar"])
    assert cache.feature_key(model, data)[0] != key


def test_unlabelled_sets_round_trip(tiny_encoder, root):
    model = build(tiny_encoder)
    unlabelled = nli([NLIExample(ex.premise, ex.hypothesis, None) for ex in NLI])
    cache.cached_encode(model, unlabelled)
    hit = cache.cached_encode(model, unlabelled)
    assert hit.hit and all(f.labels is None for f in hit.features)
    assert hit.features == model.encode(unlabelled.examples)


def test_write_is_atomic(tiny_encoder, root, monkeypatch):
    model = build(tiny_encoder)
    data = nli()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    import os

    monkeypatch.setattr(os, "fsync", crash)  # fails inside xshot.io.atomic_open, after the bytes are written
    result = cache.cached_encode(model, data)  # the run goes on without the cache
    assert result.features == model.encode(data.examples)
    assert entries(root) == [] and list((root / "features").iterdir()) == []  # no partial or temporary file
    monkeypatch.undo()
    monkeypatch.setenv("XSHOT_CACHE_DIR", str(root))
    assert not cache.cached_encode(model, data).hit
    assert cache.cached_encode(model, data).hit


def test_damaged_or_foreign_entries_are_misses_and_rewritten(tiny_encoder, root):
    model = build(tiny_encoder)
    data = nli()
    first = cache.cached_encode(model, data)
    path = cache.entry_path(first.key)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])  # truncated
    again = cache.cached_encode(model, data)
    assert not again.hit and again.features == first.features
    assert cache.cached_encode(model, data).hit  # rewritten
    # an entry whose metadata names another key is not trusted
    other = cache.entry_path("0" * 40)
    shutil.copy(path, other)
    assert cache.load_entry(other, "0" * 40) is None


def test_no_pickle_anywhere(tiny_encoder, root, monkeypatch):
    model = build(tiny_encoder, task="ner")
    data = ner()

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("load", "loads", "dump", "dumps", "Unpickler", "Pickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    cache.cached_encode(model, data)
    assert cache.cached_encode(model, data).hit
    path = entries(root)[0]
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8: 8 + header_len])  # plain safetensors: JSON header + raw arrays
    assert header["__metadata__"]["xshot_feature_cache"] == cache.FORMAT_VERSION
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} <= {"I32", "I64", "U8"}


def test_disabled_and_unwritable(tiny_encoder, tmp_path, monkeypatch):
    model = build(tiny_encoder)
    monkeypatch.setenv("XSHOT_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("XSHOT_NO_CACHE", "1")
    assert cache.cache_dir() is None
    assert not cache.cached_encode(model, nli()).hit and not (tmp_path / "c").exists()
    monkeypatch.delenv("XSHOT_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XSHOT_CACHE_DIR", str(blocker))
    assert cache.cached_encode(model, nli()).features == model.encode(NLI)


def test_evaluate_dataset_uses_the_cache(tiny_encoder, root):
    from xshot.training.prepare import Runtime
    from xshot.training.run import evaluate_dataset

    model = build(tiny_encoder)
    rt = Runtime(torch.device("cpu"), None, None, False)
    before = dict(cache.stats)
    first, records = evaluate_dataset(model, nli(), rt, bootstrap=0)
    second, again = evaluate_dataset(model, nli(), rt, bootstrap=0)
    assert cache.stats["misses"] - before.get("misses", 0) == 1 and cache.stats["hits"] - before.get("hits", 0) == 1
    assert records == again and first.scores == second.scores and first.fertility == second.fertility > 0
