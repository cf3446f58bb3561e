"""hf: specs and the Hub fallback, on real local datasets and a stand-in for ``datasets.load_dataset``."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, DatasetDict, Features, List, Value

from xshot.data import load
from xshot.data.examples import NERExample, NLIExample
from xshot.errors import XshotError

NLI_FEATURES = Features(
    {
        "premise": Value("string"),
        "hypothesis": Value("string"),
        "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
    }
)
NER_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
NER_FEATURES = Features(
    {"id": Value("string"), "tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=NER_NAMES))}
)


def _nli_split(n: int) -> datasets.Dataset:
    rows = {
        "premise": [f"p{i}" for i in range(n)],
        "hypothesis": [f"h{i}" for i in range(n)],
        "label": [i % 3 for i in range(n)],
    }
    return datasets.Dataset.from_dict(rows, features=NLI_FEATURES)


def _ner_split() -> datasets.Dataset:
    rows = {
        "id": ["0", "1"],
        "tokens": [["Ada", "Lovelace", "visited", "Paris"], ["EFE", "reported", "Euro"]],
        "ner_tags": [[1, 2, 0, 5], [3, 0, 7]],
    }
    return datasets.Dataset.from_dict(rows, features=NER_FEATURES)


# --- real local datasets through the datasets library ----------------------------------------


def test_hf_local_parquet_dir_with_class_labels(tmp_path: Path) -> None:
    for split, n in (("train", 6), ("validation", 3)):
        _nli_split(n).to_parquet(str(tmp_path / f"{split}.parquet"))
    ds = load(f"hf:{tmp_path}?lang=en", split="dev")
    assert (ds.task, ds.language, len(ds), ds.name) == ("nli", "en", 3, f"hf:{tmp_path}?lang=en")
    assert ds.examples[1] == NLIExample("p1", "h1", "neutral")


def test_hf_save_to_disk_ner(tmp_path: Path) -> None:
    DatasetDict({"test": _ner_split()}).save_to_disk(str(tmp_path / "saved"))
    ds = load(f"hf:{tmp_path / 'saved'}", split="test")
    assert ds.task == "ner"
    assert ds.examples[0] == NERExample(("Ada", "Lovelace", "visited", "Paris"), ("B-PER", "I-PER", "O", "B-LOC"))
    assert ds.labels == ("LOC", "MISC", "ORG", "PER")


def test_hf_column_mapping(tmp_path: Path) -> None:
    rows = {"sentence1": ["a"], "sentence2": ["b"], "gold": ["contradiction"]}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "test.parquet"))
    ds = load(f"hf:{tmp_path}?premise=sentence1&hypothesis=sentence2&label=gold", split="test")
    assert ds.examples == [NLIExample("a", "b", "contradiction")]


def test_hf_unknown_columns(tmp_path: Path) -> None:
    datasets.Dataset.from_dict({"text": ["a"]}).to_parquet(str(tmp_path / "test.parquet"))
    with pytest.raises(XshotError, match=r"cannot tell the task from columns \['text'\]"):
        load(f"hf:{tmp_path}", split="test")


def test_hf_missing_split_lists_available(tmp_path: Path) -> None:
    _nli_split(3).to_parquet(str(tmp_path / "train.parquet"))
    _nli_split(3).to_parquet(str(tmp_path / "test.parquet"))
    with pytest.raises(XshotError, match=r"no split 'dev' \(available: train, test\)"):
        load(f"hf:{tmp_path}", split="dev")
    with pytest.raises(XshotError, match=r"no split given \(available: train, test\)"):
        load(f"hf:{tmp_path}")


# --- built-ins without a local root: the Hub ids, through a stand-in load_dataset -------------


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Replace only ``datasets.load_dataset``; record what was asked for."""
    calls: list[tuple[str, str | None]] = []

    def fake_load_dataset(path: str, name: str | None = None, **kwargs: object) -> DatasetDict:
        calls.append((path, name))
        if path in ("facebook/xnli", "americas_nli"):
            return DatasetDict({"validation": _nli_split(3), "test": _nli_split(6)})
        return DatasetDict({"train": _ner_split(), "validation": _ner_split(), "test": _ner_split()})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    return calls


@pytest.mark.parametrize(
    ("spec", "hub_id", "config"),
    [
        ("xnli:de:test", "facebook/xnli", "de"),
        ("americasnli:aym:test", "americas_nli", "aym"),
        ("masakhaner2:yor:test", "masakhane/masakhaner2", "yor"),
        ("masakhaner1:amh:test", "masakhane/masakhaner", "amh"),
        ("wikiann:en:test", "unimelb-nlp/wikiann", "en"),
        ("wikiann-rahimi:swa:test", "unimelb-nlp/wikiann", "sw"),
        ("conll2002:es:test", "eriktks/conll2002", "es"),
    ],
)
def test_builtin_hub_ids(hub: list, spec: str, hub_id: str, config: str) -> None:
    ds = load(spec)
    assert hub == [(hub_id, config)]
    assert (ds.name, ds.language) == (spec, spec.split(":")[1])


def test_hub_nli_labels_converted(hub: list) -> None:
    ds = load("xnli:de", split="dev")
    assert [ex.label for ex in ds] == ["entailment", "neutral", "contradiction"]


def test_hub_conll2002_drops_misc_like_the_local_release(hub: list) -> None:
    ds = load("conll2002:es:dev")
    assert ds.examples[1].tags == ("B-ORG", "O", "O")
    assert ds.labels == ("LOC", "ORG", "PER")


def test_hub_other_ner_keeps_all_types(hub: list) -> None:
    assert load("wikiann:en:train").labels == ("LOC", "MISC", "ORG", "PER")


def test_root_without_the_file_falls_back_to_hub(hub: list, fixture_root: Path) -> None:
    assert len(load("xnli:en:test", data_root=fixture_root)) == 6
    assert hub == [("facebook/xnli", "en")]


def test_hub_failure_is_one_line(monkeypatch: pytest.MonkeyPatch, fixture_root: Path) -> None:
    def unreachable(path: str, name: str | None = None, **kwargs: object) -> None:
        raise ConnectionError(f"Couldn't reach '{path}' on the Hub (OfflineModeIsEnabled)\nTraceback details")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(XshotError) as err:
        load("xnli:en:train", data_root=fixture_root)
    expected = (
        "cannot load facebook/xnli:en through the datasets library: Couldn't reach 'facebook/xnli' on the Hub "
        f"(OfflineModeIsEnabled) (and no local copy at {fixture_root / 'nli/xnli/train/en.tsv'})"
    )
    assert str(err.value) == expected


def test_hub_bad_label_names_row(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, -1]})
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, **kw: DatasetDict({"test": bad}))
    with pytest.raises(XshotError, match=r"^facebook/xnli:de: row 1: bad NLI label -1$"):
        load("xnli:de:test")
