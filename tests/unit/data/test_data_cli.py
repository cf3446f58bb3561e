"""``xshot data stats`` and ``xshot data sample`` through ``xshot.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xshot.cli import main
from xshot.data import load
from xshot.data.sampling import sample_few_shot


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_json(capsys: pytest.CaptureFixture[str], fixture_root: Path) -> None:
    code, out, _ = run(capsys, "data", "stats", "xnli:en", "--split", "dev", "--json", "--data-root", str(fixture_root))
    assert code == 0
    stats = json.loads(out)
    assert (stats["examples"], stats["label_counts"]) == (12, {"entailment": 4, "neutral": 4, "contradiction": 4})


def test_stats_table_for_ner(
    capsys: pytest.CaptureFixture[str], fixture_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XSHOT_DATA_ROOT", str(fixture_root))
    code, out, _ = run(capsys, "data", "stats", "masakhaner2:yor", "--split", "train")
    assert code == 0
    assert "masakhaner2:yor:train" in out
    for row in ("sentences", "words", "DATE mentions", "PER mentions"):
        assert row in out


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) WordPiece tokenizer in Hugging Face layout, built offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = tmp_path_factory.mktemp("tokenizer")
    vocab = {"[UNK]": 0, "Olu": 1, "Ad": 2, "##é": 3}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]"})
    )
    return path


def test_stats_fertility_with_a_tokenizer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tokenizer_dir: Path
) -> None:
    data = tmp_path / "two.txt"
    data.write_text("Olu B-PER\nAdé I-PER\nxyz O\n", encoding="utf-8")
    code, out, _ = run(capsys, "data", "stats", f"conll:{data}", "--json", "--tokenizer", str(tokenizer_dir))
    assert code == 0
    assert json.loads(out)["fertility"] == round((1 + 2 + 1) / 3, 4)


def test_stats_bad_tokenizer(capsys: pytest.CaptureFixture[str], fixture_root: Path, tmp_path: Path) -> None:
    code, _, err = run(
        capsys, "data", "stats", "xnli:de:test", "--data-root", str(fixture_root), "--tokenizer", str(tmp_path)
    )
    assert code == 2
    assert err.startswith(f"xshot: error: cannot load tokenizer '{tmp_path}'")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["conll:{fixtures}/malformed/bad_tag_underscore.txt"],
            "{fixtures}/malformed/bad_tag_underscore.txt:4: bad NER tag 'B_LOC'",
        ),
        (["conll:{fixtures}/malformed/empty.txt"], "{fixtures}/malformed/empty.txt: empty file"),
        (["xnli:de", "--data-root", "{fixtures}/root"], "dataset spec 'xnli:de' names no split"),
        (["xnli:xx:test", "--data-root", "{fixtures}/root"], "xnli: unknown language 'xx' (known: ar bg de"),
        (["nope:de:test"], "unknown dataset 'nope'"),
    ],
)
def test_stats_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], fixtures: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "data", "stats", *(a.format(fixtures=fixtures) for a in argv))
    assert code == 2
    assert out == ""
    assert err.startswith("xshot: error: " + message.format(fixtures=fixtures))
    assert err.count("\n") == 1


def _sample(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "data", "sample", "xnli:en", "--split", "dev", "--k", "2", "--data-root", str(root), *extra)


def test_sample_nli_to_stdout_is_reproducible(capsys: pytest.CaptureFixture[str], fixture_root: Path) -> None:
    code, out, err = _sample(capsys, fixture_root, "--seed", "1")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["label"] for row in rows].count("neutral") == 2 and len(rows) == 6
    assert all(list(row) == sorted(row) for row in rows)
    assert "entailment 2, neutral 2, contradiction 2" in err
    assert _sample(capsys, fixture_root, "--seed", "1")[1] == out
    assert _sample(capsys, fixture_root, "--seed", "2")[1] != out


def test_sample_out_file_matches_stdout_and_reads_back(
    capsys: pytest.CaptureFixture[str], fixture_root: Path, tmp_path: Path
) -> None:
    stdout = _sample(capsys, fixture_root, "--seed", "3")[1]
    target = tmp_path / "shots.jsonl"
    code, out, _ = _sample(capsys, fixture_root, "--seed", "3", "--out", str(target))
    assert (code, out) == (0, "")
    assert target.read_bytes() == stdout.encode("utf-8")
    expected = sample_few_shot(load("xnli:en:dev", data_root=fixture_root), 2, 3)
    assert load(f"jsonl:{target}").examples == expected.examples


def test_sample_ner_reports_mentions(capsys: pytest.CaptureFixture[str], fixture_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "ner.jsonl"
    args = (
        "data",
        "sample",
        "masakhaner2:yor",
        "--k",
        "1",
        "--seed",
        "0",
        "--data-root",
        str(fixture_root),
        "--out",
        str(target),
    )
    code, _, err = run(capsys, *args)
    assert code == 0
    assert "mentions: DATE 1, LOC 1, ORG 1, PER 1" in err
    assert load(f"jsonl:{target}").examples == load("masakhaner2:yor:train", data_root=fixture_root).examples


def test_sample_k_too_large(capsys: pytest.CaptureFixture[str], fixture_root: Path) -> None:
    code, out, err = _sample(capsys, fixture_root, "--seed", "1", "--k", "5")
    assert (code, out) == (2, "")
    assert err == "xshot: error: xnli:en:dev: only 4 entailment examples, fewer than k=5\n"
