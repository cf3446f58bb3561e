"""The ``xshot data`` commands on the real data, as a user runs them (XSHOT_DATA_ROOT set)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from xshot.cli import main
from xshot.data import load

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_xnli_sw_test(capsys: pytest.CaptureFixture[str], cli_env: Path) -> None:
    code, out, _ = run(capsys, "data", "stats", "xnli:sw", "--split", "test", "--json")
    stats = json.loads(out)
    assert (code, stats["examples"], stats["language"]) == (0, 5010, "sw")
    assert stats["label_counts"] == {"entailment": 1670, "neutral": 1670, "contradiction": 1670}


def test_stats_masakhaner2_yor_test(capsys: pytest.CaptureFixture[str], cli_env: Path) -> None:
    code, out, _ = run(capsys, "data", "stats", "masakhaner2:yor", "--split", "test")
    assert code == 0
    assert "1964" in out
    expected = json.loads(run(capsys, "data", "stats", "masakhaner2:yor:test", "--json")[1])["label_counts"]
    for entity_type, n in expected.items():
        assert f"{entity_type} mentions" in out and str(n) in out


def test_malformed_conll_fails_with_one_line(capsys: pytest.CaptureFixture[str], cli_env: Path, tmp_path: Path) -> None:
    lines = (cli_env / "ner/masakhaner2/yor/test.txt").read_text(encoding="utf-8").splitlines()[:40]
    broken_at = next(i for i, line in enumerate(lines) if line.endswith(" O"))
    lines[broken_at] = lines[broken_at][:-1] + "X-LOC"
    path = tmp_path / "broken.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "data", "stats", f"conll:{path}")
    assert (code, out) == (2, "")
    assert err == f"xshot: error: {path}:{broken_at + 1}: bad NER tag 'X-LOC' (expected O, B-TYPE or I-TYPE)\n"


def test_sample_xnli_en_dev(capsys: pytest.CaptureFixture[str], cli_env: Path, tmp_path: Path) -> None:
    args = ("data", "sample", "xnli:en", "--split", "dev", "--k", "16", "--seed", "13")
    code, first, err = run(capsys, *args)
    rows = [json.loads(line) for line in first.splitlines()]
    assert (code, len(rows)) == (0, 48)
    assert Counter(row["label"] for row in rows) == {"entailment": 16, "neutral": 16, "contradiction": 16}
    assert "entailment 16, neutral 16, contradiction 16" in err
    assert run(capsys, *args)[1] == first
    out_file = tmp_path / "en16.jsonl"
    assert run(capsys, *args, "--out", str(out_file))[0] == 0
    assert out_file.read_bytes() == first.encode("utf-8")
    assert run(capsys, "data", "sample", "xnli:en", "--split", "dev", "--k", "16", "--seed", "14")[1] != first


def test_sample_masakhaner2_hau_covers_every_type(
    capsys: pytest.CaptureFixture[str], cli_env: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "hau5.jsonl"
    code, _, err = run(capsys, "data", "sample", "masakhaner2:hau", "--k", "5", "--seed", "1", "--out", str(out_file))
    assert code == 0
    shots = load(f"jsonl:{out_file}")
    mentions = Counter(tag[2:] for ex in shots for tag in ex.tags if tag.startswith("B-"))
    assert set(mentions) == {"DATE", "LOC", "ORG", "PER"}
    assert min(mentions.values()) >= 5
    assert "mentions: " + ", ".join(f"{t} {mentions[t]}" for t in sorted(mentions)) in err
