"""Every built-in loader on the real files (AmericasNLI has no shared copy; see the unit fixtures)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from xshot.data import Dataset
from xshot.data.tags import detect_scheme

pytestmark = pytest.mark.integration

Loader = Callable[[str], Dataset]
XNLI = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
MASAKHANER2 = "bam ewe hau ibo kin lug luo nya pcm sna swa wol xho yor zul".split()


@pytest.mark.parametrize("lang", XNLI)
@pytest.mark.parametrize(("split", "per_class"), [("dev", 830), ("test", 1670)])
def test_xnli(real: Loader, lang: str, split: str, per_class: int) -> None:
    ds = real(f"xnli:{lang}:{split}")
    assert (ds.task, ds.language, len(ds)) == ("nli", lang, 3 * per_class)
    assert Counter(ex.label for ex in ds) == {"entailment": per_class, "neutral": per_class, "contradiction": per_class}
    assert all(ex.premise and ex.hypothesis for ex in ds)


def test_xnli_test_rows_are_parallel(real: Loader) -> None:
    en, sw = real("xnli:en:test"), real("xnli:sw:test")
    assert [ex.label for ex in en] == [ex.label for ex in sw]


@pytest.mark.parametrize(
    ("spec", "sentences"),
    [
        ("masakhaner2:yor:train", 6876),
        ("masakhaner2:yor:dev", 983),
        ("masakhaner2:yor:test", 1964),
        ("masakhaner2:swa:train", 6593),
        ("masakhaner2:swa:dev", 942),
        ("masakhaner2:swa:test", 1883),
        ("masakhaner2:ewe:train", 3505),
        ("masakhaner2:ewe:dev", 501),
        ("masakhaner2:ewe:test", 1001),
        ("masakhaner1:amh:train", 1750),
        ("masakhaner1:amh:dev", 250),
        ("masakhaner1:amh:test", 500),
    ],
)
def test_masakhaner_sizes_and_types(real: Loader, spec: str, sentences: int) -> None:
    ds = real(spec)
    assert (ds.task, len(ds), ds.labels) == ("ner", sentences, ("DATE", "LOC", "ORG", "PER"))


@pytest.mark.parametrize("lang", MASAKHANER2)
def test_masakhaner2_every_language(real: Loader, lang: str) -> None:
    ds = real(f"masakhaner2:{lang}:test")
    assert (ds.language, ds.labels) == (lang, ("DATE", "LOC", "ORG", "PER"))
    assert all(len(ex.tokens) == len(ex.tags) > 0 for ex in ds)
    assert detect_scheme(ex.tags for ex in ds) == "IOB2"  # whatever the file had


def test_masakhaner2_xho_train_skips_its_blank_tokens(real: Loader) -> None:
    ds = real("masakhaner2:xho:train")
    assert ds.meta["blank_tokens_skipped"] == 2
    assert all(token.strip() for ex in ds for token in ex.tokens)


@pytest.mark.parametrize(
    ("lang", "sizes"),
    [("es", (8322, 1914, 1516)), ("nl", (15806, 2895, 5195))],
)
def test_conll2002(real: Loader, lang: str, sizes: tuple[int, int, int]) -> None:
    for split, n in zip(("train", "dev", "test"), sizes, strict=True):
        ds = real(f"conll2002:{lang}:{split}")
        assert (ds.language, len(ds), ds.labels) == (lang, n, ("LOC", "ORG", "PER"))


@pytest.mark.parametrize("lang", ["en", "de", "fr", "nl"])
def test_wikiann_prefixes_stripped(real: Loader, shared_data: Path, lang: str) -> None:
    ds = real(f"wikiann:{lang}:test")
    assert (ds.language, len(ds), ds.labels) == (lang, 10000, ("LOC", "ORG", "PER"))
    raw = (shared_data / f"ner/wikiann/{lang}/test.txt").read_text(encoding="utf-8").splitlines()
    file_tokens = [line.split("\t")[0] for line in raw if line.strip()]
    assert all(token.startswith(f"{lang}:") for token in file_tokens)
    assert [token for ex in ds for token in ex.tokens] == [token[len(lang) + 1 :] for token in file_tokens]


def test_wikiann_en_train_and_dev(real: Loader) -> None:
    assert (len(real("wikiann:en:train")), len(real("wikiann:en:dev"))) == (20000, 10000)
    assert real("wikiann:en:dev").examples[0].tokens[:3] == ("Sioux", "Falls", "Arena")


@pytest.mark.parametrize("lang", ["amh", "ibo", "kin", "swa", "yor"])
def test_wikiann_rahimi(real: Loader, lang: str) -> None:
    size = 1000 if lang == "swa" else 100
    for split in ("train", "dev", "test"):
        ds = real(f"wikiann-rahimi:{lang}:{split}")
        assert (ds.language, len(ds)) == (lang, size)
        assert set(ds.labels) <= {"LOC", "ORG", "PER"}
