"""The registry mechanism, and that a method registered once shows up everywhere a method is listed."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from xshot.cli import main
from xshot.errors import XshotError
from xshot.methods import METHODS, get_method, method_names
from xshot.registry import Registry

METHODS_DOC = Path(__file__).resolve().parents[2] / "docs" / "methods.md"


def test_unknown_names_list_the_valid_ones_and_entries_load_lazily(tmp_path, monkeypatch):
    (tmp_path / "lazy_entry.py").write_text("LOADED = True\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[int] = Registry("widget")
    reg.add("b", 1)
    reg.add("a", "lazy_entry:VALUE")
    assert reg.names() == ("b", "a") and "a" in reg and len(reg) == 2  # registration order
    assert "lazy_entry" not in sys.modules  # listing names imports nothing
    assert reg.get("a") == 42 and reg.get("b") == 1
    with pytest.raises(XshotError, match=r"unknown widget 'c'; available: b, a"):
        reg.get("c")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("b", 2)


def test_modules_register_under_their_names_with_dashes():
    reg: Registry = Registry("thing")
    reg.add_modules("pkg", ("soft_prompt", "lora"), "METHOD")
    assert reg.names() == ("soft-prompt", "lora")
    assert reg._entries["soft-prompt"] == "pkg.soft_prompt:METHOD"


def test_the_methods_doc_table_lists_the_registered_methods_in_order():
    text = METHODS_DOC.read_text(encoding="utf-8")
    table = text[text.index("| name | what |"):].split("\n\n")[0]
    assert re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M) == list(method_names())


TOY = '''
    """Toy method: plain fine-tuning under another name (a test of the registry)."""
    from dataclasses import dataclass

    from xshot.methods import Cost, Method
    from xshot.methods.finetune import FinetuneConfig, build


    @dataclass
    class ToyConfig(FinetuneConfig):
        pass


    METHOD = Method(ToyConfig, build, Cost(step_s=7.0, eval_s=0.5), __doc__)
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A method package outside xshot, registered with one line."""
    (tmp_path / "toy_method.py").write_text(textwrap.dedent(TOY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    METHODS.add("toy", "toy_method:METHOD")  # the one registration
    return "toy"


def test_a_registered_method_appears_in_plan_cli_and_report_order(toy, tmp_path, capsys):
    from xshot.reporting.frame import method_order

    assert main(["methods"]) == 0
    assert re.search(r"toy\s+│ yes\s+│ 3e-05\s+│ Toy method: plain fine-tuning", capsys.readouterr().out)
    study = tmp_path / "study.yaml"
    study.write_text(textwrap.dedent("""\
        name: toy-study
        task: nli
        models: [tiny-model]
        methods: [finetune, toy]
        defaults: {max_steps: 10, batch_size: 16, eval_limit: 100}
        settings:
          - {name: s, train: "xnli:en:dev", k: [4], eval: ["xnli:de:test"]}
        """))
    assert main(["plan", str(study), "--json", "--store", str(tmp_path / "none.sqlite")]) == 0
    plan = json.loads(capsys.readouterr().out)
    costs = {c["method"]: c for c in plan["cells"]}
    assert set(costs) == {"finetune", "toy"}
    # the toy's own unit costs: 7 s a step against finetune's
    finetune = get_method("finetune").cost
    assert costs["toy"]["est_train_s"] == pytest.approx(costs["finetune"]["est_train_s"] * 7.0 / finetune.step_s, rel=1e-2)
    assert costs["toy"]["est_eval_s"] == pytest.approx(costs["finetune"]["est_eval_s"] * 0.5 / finetune.eval_s, rel=5e-2)  # (rounded to 0.01 s)
    assert method_order(["toy", "dualcl", "finetune"]) == ["finetune", "dualcl", "toy"]  # registration order


def test_a_registered_method_trains_through_xshot_train(toy, tiny_encoder, tmp_path, capsys):
    from tests.unit.methods.conftest import NLI

    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    assert get_method("toy").cost.step_s == 7.0
    assert main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "toy", "--train", f"jsonl:{data}",
                 "--k", "1", "--eval", f"jsonl:{data}", "--max-steps", "1", "--out", str(tmp_path / "run"), "-q"]) == 0
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result["config"]["method"] == "toy" and result["training"][0]["steps"] == 1
