"""The shipped study presets in examples/ load, expand to the intended grids and stay small when -quick."""

from __future__ import annotations

from pathlib import Path

import pytest

from xshot.cli import main
from xshot.studies.grid import expand
from xshot.studies.spec import load_study

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
XNLI_LANGS = set("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
METHODS = {"finetune", "prompt", "soft-prompt", "lora", "dualcl"}


def _cells(name):
    return expand(load_study(EXAMPLES / name))


def test_xnli_fewshot():
    cells = _cells("xnli-fewshot.yaml")
    assert len(cells) == 3 * 5 * 5
    assert {c.config.k for c in cells} == {4, 16, 64}
    assert {c.config.method for c in cells} == METHODS
    assert {c.config.seed for c in cells} == {1, 2, 3, 4, 5}
    assert {c.config.train for c in cells} == {"xnli:en:dev"}
    for c in cells:
        assert {e.split(":")[1] for e in c.config.eval} == XNLI_LANGS
        assert all(e.endswith(":test") for e in c.config.eval)
    assert cells[0].config.model == "xlmr-base"


def test_masakhaner_fewshot():
    cells = _cells("masakhaner-fewshot.yaml")
    source = [c for c in cells if c.setting == "en-fewshot"]
    target = [c for c in cells if c.setting == "target-fewshot"]
    assert len(source) == 3 * 5 * 5 and {c.config.k for c in source} == {5, 10, 20}
    assert all(c.config.task == "ner" and c.config.train == "wikiann:en:train" for c in cells)
    assert all(len(c.config.eval) == 15 and c.config.target_train is None for c in source)
    assert target and all(c.config.target_train == f"masakhaner2:{c.language}:train" for c in target)
    assert all(c.config.eval == [f"masakhaner2:{c.language}:test"] for c in target)
    assert {c.config.target_k for c in target} == {5, 10, 20}


@pytest.mark.parametrize("name", ["xnli-fewshot-quick.yaml", "masakhaner-fewshot-quick.yaml"])
def test_quick_presets_are_small_and_use_me5(name, monkeypatch):
    monkeypatch.setenv("XSHOT_ME5", "/opt/offline-models/me5-small")
    cells = _cells(name)
    assert 5 <= len(cells) <= 10
    assert {c.config.method for c in cells} == METHODS
    langs = {e.split(":")[1] for c in cells for e in c.config.eval}
    assert len(langs) == 4
    for c in cells:
        cfg = c.config
        assert cfg.model == "/opt/offline-models/me5-small"
        assert cfg.eval_limit is not None and cfg.eval_limit <= 300
        assert cfg.max_steps is not None and cfg.max_steps <= 30
        assert cfg.batch_size is not None and cfg.batch_size <= 8
        assert cfg.seed in (1, 2)
    if name.startswith("masakhaner"):
        assert any(c.config.target_train for c in cells)
    monkeypatch.delenv("XSHOT_ME5")
    assert _cells(name)[0].config.model == "me5-small"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_preset_plans(name, tmp_path, capsys):
    assert main(["plan", str(EXAMPLES / name), "--json", "--store", str(tmp_path / "none.sqlite")]) == 0
    assert '"to_run"' in capsys.readouterr().out
