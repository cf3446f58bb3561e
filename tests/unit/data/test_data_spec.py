from __future__ import annotations

from pathlib import Path

import pytest

from xshot.data import load
from xshot.data.spec import DATASETS, parse_spec
from xshot.errors import XshotError


@pytest.mark.parametrize(
    ("text", "kind", "target", "split"),
    [
        ("xnli:de", "xnli", "de", None),
        ("xnli:sw:test", "xnli", "sw", "test"),
        ("masakhaner2:yor", "masakhaner2", "yor", None),
        ("masakhaner1:amh:validation", "masakhaner1", "amh", "dev"),
        ("wikiann:en:train", "wikiann", "en", "train"),
        ("wikiann-rahimi:swa", "wikiann-rahimi", "swa", None),
        ("conll2002:es:dev", "conll2002", "es", "dev"),
        ("americasnli:aym", "americasnli", "aym", None),
    ],
)
def test_parse_builtin(text: str, kind: str, target: str, split: str | None) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.target, spec.split, spec.language) == (kind, target, split, target)


def test_parse_file_with_columns_and_language() -> None:
    spec = parse_spec("nli-tsv:/d/my.tsv?premise=sentence1_my&hypothesis=sentence2_my&label=label&lang=my")
    assert (spec.kind, spec.target, spec.language) == ("nli-tsv", "/d/my.tsv", "my")
    assert spec.columns == {"premise": "sentence1_my", "hypothesis": "sentence2_my", "label": "label"}


@pytest.mark.parametrize(
    ("text", "hub_id", "config"),
    [
        ("hf:facebook/xnli:de", "facebook/xnli", "de"),
        ("hf:facebook/xnli", "facebook/xnli", None),
        ("hf:/tmp/some/dir", "/tmp/some/dir", None),
        ("hf:/tmp/dir:en", "/tmp/dir", "en"),
    ],
)
def test_parse_hf(text: str, hub_id: str, config: str | None) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.target, spec.config) == ("hf", hub_id, config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo:de", "unknown dataset 'foo': expected NAME:LANG[:SPLIT] (xnli, "),
        ("xnli", "dataset spec 'xnli' is incomplete"),
        ("xnli:", "dataset spec 'xnli:' is incomplete"),
        ("xnli:de:test:x", "dataset spec 'xnli:de:test:x': expected xnli:LANG[:SPLIT]"),
        ("xnli:de:training", "unknown split 'training' (expected train, dev or test"),
        ("conll:x.txt?label=tag", "unknown option 'label' (allowed: lang)"),
        ("nli-tsv:x.tsv?tokens=a", "unknown option 'tokens' (allowed: premise, hypothesis, label, lang)"),
        ("nli-tsv:x.tsv?premise=", "option 'premise' needs a value"),
        ("jsonl:x.jsonl?premise", "malformed options 'premise'"),
    ],
)
def test_parse_errors(text: str, expected: str) -> None:
    with pytest.raises(XshotError) as err:
        parse_spec(text)
    assert expected in str(err.value)


# --- loading built-ins from a local data root -----------------------------------------------


def test_xnli_from_root(fixture_root: Path) -> None:
    ds = load("xnli:en", split="dev", data_root=fixture_root)
    assert (ds.name, ds.language, ds.task, len(ds)) == ("xnli:en:dev", "en", "nli", 12)
    assert ds.labels == ("entailment", "neutral", "contradiction")


def test_split_in_spec_wins(fixture_root: Path) -> None:
    assert load("xnli:de:test", split="dev", data_root=fixture_root).name == "xnli:de:test"


def test_validation_is_dev(fixture_root: Path) -> None:
    assert load("xnli:en", split="validation", data_root=fixture_root).name == "xnli:en:dev"


def test_americasnli_layout(fixture_root: Path) -> None:
    ds = load("americasnli:aym:dev", data_root=fixture_root)
    assert (ds.language, len(ds)) == ("aym", 3)
    assert [ex.label for ex in ds] == ["contradiction", "entailment", "neutral"]
    assert ds.examples[0].premise == "Jupax utar saraw."


@pytest.mark.parametrize(
    ("spec", "language", "labels", "n"),
    [
        ("masakhaner2:yor:train", "yor", ("DATE", "LOC", "ORG", "PER"), 2),
        ("masakhaner2:yor:test", "yor", ("DATE", "LOC", "PER"), 1),
        ("masakhaner1:amh:dev", "amh", ("LOC", "PER"), 1),
        ("wikiann:en:train", "en", ("LOC", "ORG", "PER"), 2),
        ("wikiann-rahimi:swa:test", "swa", ("LOC",), 1),
        ("conll2002:es:train", "es", ("LOC", "ORG"), 1),
    ],
)
def test_ner_builtins_from_root(fixture_root: Path, spec: str, language: str, labels: tuple[str, ...], n: int) -> None:
    ds = load(spec, data_root=fixture_root)
    assert (ds.name, ds.language, ds.task, ds.labels, len(ds)) == (spec, language, "ner", labels, n)


def test_wikiann_prefixes_stripped(fixture_root: Path) -> None:
    ds = load("wikiann:en:train", data_root=fixture_root)
    assert ds.examples[1].tokens == ("Google", "hired", "Ada", "Lovelace")


def test_data_root_from_environment(fixture_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSHOT_DATA_ROOT", str(fixture_root))
    assert len(load("xnli:de:test")) == 3


def test_data_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(XshotError, match="is not a directory"):
        load("xnli:de:test", data_root=tmp_path / "missing")


def test_unknown_language_lists_known_ones(fixture_root: Path) -> None:
    with pytest.raises(XshotError) as err:
        load("masakhaner2:xx:test", data_root=fixture_root)
    assert str(err.value).startswith("masakhaner2: unknown language 'xx' (known: bam bbj ewe ")


def test_local_languages_are_known(tmp_path: Path) -> None:
    (tmp_path / "ner/masakhaner2/new").mkdir(parents=True)
    (tmp_path / "ner/masakhaner2/new/test.txt").write_text("a O\n", encoding="utf-8")
    assert load("masakhaner2:new:test", data_root=tmp_path).language == "new"
    assert "new" in DATASETS.get("masakhaner2").known_languages(tmp_path)


def test_missing_split_is_an_error(fixture_root: Path) -> None:
    with pytest.raises(XshotError, match="names no split: use xnli:de:SPLIT or --split"):
        load("xnli:de", data_root=fixture_root)


def test_split_the_dataset_lacks(fixture_root: Path) -> None:
    with pytest.raises(XshotError, match=r"americasnli has no train split \(available: dev, test\)"):
        load("americasnli:aym:train", data_root=fixture_root)


# --- file specs ------------------------------------------------------------------------------


def test_file_spec_name_language_and_ignored_split(fixtures: Path) -> None:
    spec = f"nli-tsv:{fixtures}/nli/mapped.tsv?premise=sentence1_my&hypothesis=sentence2_my&label=label&lang=my"
    ds = load(spec, split="test")
    assert (ds.name, ds.language, len(ds)) == (spec, "my", 2)


def test_conll_spec_takes_language_from_prefixes(fixtures: Path) -> None:
    assert load(f"conll:{fixtures}/conll/prefixed.tsv").language == "en"
    assert load(f"conll:{fixtures}/conll/prefixed.tsv?lang=xx").language == "xx"


def test_csv_and_jsonl_specs(fixtures: Path) -> None:
    assert load(f"nli-csv:{fixtures}/nli/pairs.csv").task == "nli"
    assert load(f"jsonl:{fixtures}/jsonl/ner.jsonl").task == "ner"
    mapped = load(f"jsonl:{fixtures}/jsonl/mapped.jsonl?premise=sentence1&hypothesis=sentence2&label=gold_label")
    assert mapped.examples[1].label == "entailment"


def test_check_refuses_what_load_would_without_reading_the_data(fixture_root: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from xshot.data import spec as data_spec
    from xshot.data.spec import check

    monkeypatch.setattr(data_spec, "read_nli_table", lambda *a, **k: pytest.fail("check read the data"))
    check("xnli:de:test", data_root=fixture_root)
    check("xnli:de", "test", data_root=fixture_root)
    check("hf:someone/some-nli", data_root=fixture_root)  # the Hub is only known once asked
    existing = tmp_path / "x.jsonl"
    existing.write_text("{}\n", encoding="utf-8")
    check(f"jsonl:{existing}")
    for spec, split, message in [("xnli:qq:test", None, "xnli: unknown language 'qq'"),
                                 ("xnli:de", None, "names no split"),
                                 ("americasnli:aym:train", None, "americasnli has no train split"),
                                 ("xnli:de:tset", None, "unknown split 'tset'"),
                                 (f"jsonl:{tmp_path / 'missing.jsonl'}", None, "cannot read file: No such file")]:
        with pytest.raises(XshotError, match=message):
            check(spec, split, data_root=fixture_root)
        with pytest.raises(XshotError, match=message):  # the same refusal as load's
            load(spec, split, data_root=fixture_root)
