from __future__ import annotations

from pathlib import Path

import pytest

from xshot.data.examples import NERExample, NLIExample
from xshot.data.readers import read_conll, read_jsonl, read_nli_table
from xshot.errors import XshotError


def _error(fn, *args) -> str:
    with pytest.raises(XshotError) as err:
        fn(*args)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- CoNLL -----------------------------------------------------------------------------------


def test_conll_iob2_with_docstart(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/iob2.txt")
    assert ds.task == "ner"
    assert [len(ex.tokens) for ex in ds] == [9, 5, 5]
    assert ds.examples[0] == NERExample(
        ("Olu", "Adé", "lọ", "sí", "Èkó", "ní", "ọjọ́", "Ajé", "."),
        ("B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-DATE", "I-DATE", "O"),
    )
    assert ds.labels == ("DATE", "LOC", "ORG", "PER")
    assert ds.meta["tag_scheme"] == "IOB2"
    assert ds.language is None


def test_conll_iob1_converted_to_iob2(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/iob1.txt")
    assert ds.meta["tag_scheme"] == "IOB1"
    assert ds.examples[0].tags == ("B-PER", "I-PER", "B-PER", "O", "O", "B-LOC", "O")
    assert ds.examples[1].tags == ("B-ORG", "I-ORG", "O")


def test_conll_io_converted_to_iob2(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/io.txt")
    assert ds.meta["tag_scheme"] == "IO"
    assert ds.examples[0].tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-DATE")


def test_conll_tab_separated_prefixes_stripped(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/prefixed.tsv")
    assert ds.examples[0].tokens == ("R.H.", "Saunders", "(", "St.", "Lawrence", ")")
    # a tab-separated token may contain a space; "en::" is the token ":"
    assert ds.examples[1].tokens == ("Paris", "Hilton", ":", "New York")
    assert ds.language == "en"


def test_conll_prefix_kept_unless_every_token_has_one(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/partly_prefixed.txt")
    assert ds.examples[0].tokens == ("See", "http://x.org", "or", "en:Paris")
    assert ds.language is None


def test_conll_last_column_is_the_tag(fixtures: Path) -> None:
    ds = read_conll(fixtures / "conll/three_columns.txt")
    assert ds.examples[0].tokens[0] == "Wolff"
    assert ds.examples[0].tags == ("B-PER", "O", "O", "O", "O", "O", "B-LOC")


def test_conll_crlf_and_bom_read_like_the_plain_file(fixtures: Path, tmp_path: Path) -> None:
    raw = (fixtures / "conll/iob2.txt").read_bytes()
    variant = tmp_path / "crlf_bom.txt"
    variant.write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))
    assert read_conll(variant).examples == read_conll(fixtures / "conll/iob2.txt").examples


def test_conll_blank_token_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "blank_token.txt"
    path.write_text("Ndiyekeni O\n, O\n O\nuNdila B-PER\n", encoding="utf-8")
    ds = read_conll(path)
    assert ds.examples[0].tokens == ("Ndiyekeni", ",", "uNdila")
    assert ds.meta["blank_tokens_skipped"] == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad_tag_underscore.txt", ":4: bad NER tag 'B_LOC'"),
        ("bad_tag_prefix.txt", ":2: bad NER tag 'X-LOC'"),
        ("bad_tag_lowercase.txt", ":1: bad NER tag 'per'"),
        ("wrong_columns.txt", ":5: wrong column count: expected 2 columns as on line 1, found 3"),
        ("one_column.txt", ":1: wrong column count: expected a token and a tag column, found 1"),
        ("empty.txt", ": empty file"),
        ("docstart_only.txt", ": no sentences"),
    ],
)
def test_conll_malformed(fixtures: Path, name: str, expected: str) -> None:
    path = fixtures / "malformed" / name
    message = _error(read_conll, path)
    assert message.startswith(f"{path}{expected}")


def test_conll_non_utf8_names_file_and_line(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Olu B-PER\n\nSão B-LOC\n".encode("latin-1"))
    assert _error(read_conll, path) == f"{path}:3: not valid UTF-8 (byte 0xe3); re-encode the file as UTF-8"


def test_conll_non_utf8_after_bom_counts_lines_right(tmp_path: Path) -> None:
    path = tmp_path / "bom_latin1.txt"
    path.write_bytes(b"\xef\xbb\xbfa O\nb O\n\xff O\n")
    assert _error(read_conll, path).startswith(f"{path}:3: not valid UTF-8 (byte 0xff)")


def test_missing_file(tmp_path: Path) -> None:
    assert _error(read_conll, tmp_path / "nope.txt").startswith(f"{tmp_path / 'nope.txt'}: cannot read file")


# --- NLI TSV / CSV ---------------------------------------------------------------------------


def test_nli_tsv(fixtures: Path) -> None:
    ds = read_nli_table(fixtures / "nli/pairs.tsv", "tsv")
    assert ds.task == "nli"
    assert ds.labels == ("entailment", "neutral", "contradiction")
    assert [ex.label for ex in ds] == ["entailment", "neutral", "contradiction", "entailment"]
    assert ds.examples[3] == NLIExample('He said "yes, sir".', "He agreed.", "entailment")


def test_nli_numeric_labels_in_xnli_order(fixtures: Path) -> None:
    ds = read_nli_table(fixtures / "nli/numeric.tsv", "tsv")
    assert [ex.label for ex in ds] == ["entailment", "neutral", "contradiction"]


def test_nli_column_mapping(fixtures: Path) -> None:
    ds = read_nli_table(fixtures / "nli/mapped.tsv", "tsv", {"premise": "sentence1_my", "hypothesis": "sentence2_my"})
    assert ds.examples[1] == NLIExample("ကြောင်က ထိုင်နေတယ်။", "ခွေး ရှိတယ်။", "contradiction")


def test_nli_csv_quoting(fixtures: Path) -> None:
    ds = read_nli_table(fixtures / "nli/pairs.csv", "csv")
    assert ds.examples[0] == NLIExample("The cat, a tabby, sat.", "A cat sat.", "entailment")
    assert ds.examples[1] == NLIExample('He said "no".', "He\nrefused.", "contradiction")
    assert len(ds) == 3


def test_nli_crlf_and_bom(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "crlf.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + (fixtures / "nli/pairs.tsv").read_bytes().replace(b"\n", b"\r\n"))
    assert read_nli_table(path, "tsv").examples == read_nli_table(fixtures / "nli/pairs.tsv", "tsv").examples


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        (
            "missing_column.tsv",
            "tsv",
            ":1: missing column 'hypothesis' for the hypothesis (header has: premise, label)",
        ),
        ("wrong_columns.tsv", "tsv", ":3: wrong column count: expected 3 as in the header, found 2"),
        ("bad_label.tsv", "tsv", ":3: bad NLI label 'maybe'"),
        ("header_only.tsv", "tsv", ": no examples after the header"),
        ("blank.tsv", "tsv", ": empty file"),
        ("empty.txt", "csv", ": empty file"),
        ("bad_quote.csv", "csv", ":2: malformed CSV"),
    ],
)
def test_nli_malformed(fixtures: Path, name: str, fmt: str, expected: str) -> None:
    path = fixtures / "malformed" / name
    assert _error(read_nli_table, path, fmt).startswith(f"{path}{expected}")


def test_nli_mapped_column_missing_names_it(fixtures: Path) -> None:
    path = fixtures / "nli/pairs.tsv"
    assert "missing column 'sentence1_my'" in _error(read_nli_table, path, "tsv", {"premise": "sentence1_my"})


def test_nli_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.tsv"
    path.write_bytes("premise\thypothesis\tlabel\nCafé.\tBar.\tneutral\n".encode("cp1252"))
    assert _error(read_nli_table, path, "tsv").startswith(f"{path}:2: not valid UTF-8")


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_nli_detected_from_keys(fixtures: Path) -> None:
    ds = read_jsonl(fixtures / "jsonl/nli.jsonl")
    assert ds.task == "nli"
    assert [ex.label for ex in ds] == ["entailment", "contradiction", "neutral"]


def test_jsonl_ner_detected_and_converted(fixtures: Path) -> None:
    ds = read_jsonl(fixtures / "jsonl/ner.jsonl")
    assert ds.task == "ner"
    assert ds.examples[1] == NERExample(("Ilé", "ìfowópamọ́", "sọ"), ("B-ORG", "I-ORG", "O"))
    assert ds.labels == ("LOC", "ORG", "PER")


def test_jsonl_mapped_keys(fixtures: Path) -> None:
    ds = read_jsonl(
        fixtures / "jsonl/mapped.jsonl", {"premise": "sentence1", "hypothesis": "sentence2", "label": "gold_label"}
    )
    assert ds.examples[0] == NLIExample("A.", "B.", "neutral")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad_json.jsonl", ":2: invalid JSON"),
        ("unknown_keys.jsonl", ":1: cannot tell the task from keys ['category', 'text']"),
        ("length_mismatch.jsonl", ":2: 2 tokens but 1 tags"),
        ("missing_key.jsonl", ":2: missing key 'hypothesis'"),
        ("empty.txt", ": empty file"),
    ],
)
def test_jsonl_malformed(fixtures: Path, name: str, expected: str) -> None:
    path = fixtures / "malformed" / name
    assert _error(read_jsonl, path).startswith(f"{path}{expected}")


def test_jsonl_bad_tag_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["b"], "tags": ["B_PER"]}\n', encoding="utf-8")
    assert _error(read_jsonl, path).startswith(f"{path}:2: bad NER tag 'B_PER'")


def test_jsonl_tokens_must_be_strings(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tokens": "a b", "tags": ["O", "O"]}\n', encoding="utf-8")
    assert _error(read_jsonl, path) == f"{path}:1: 'tokens' must be a list of strings"
