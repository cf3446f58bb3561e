"""``xshot train`` / ``eval`` / ``predict`` through the CLI entry point, on a tiny model and hand-written data."""

import json

import pytest

from tests.unit.methods.conftest import NER, NLI
from xshot.cli import main


def _write_jsonl(path, examples):
    path.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in examples), encoding="utf-8")
    return path


def test_train_eval_predict_nli(tiny_encoder, tmp_path, capsys, monkeypatch):
    data = _write_jsonl(tmp_path / "nli.jsonl", NLI)
    out = tmp_path / "run"
    code = main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "dualcl", "--train", f"jsonl:{data}",
                 "--k", "2", "--seed", "1", "--eval", f"jsonl:{data}", "--max-steps", "2", "--batch-size", "3",
                 "-o", "alpha=0.3", "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method_config"]["alpha"] == 0.3 and metrics["config"]["k"] == 2
    assert metrics["train_examples"] == 6 and set(metrics["evaluations"]) == {f"jsonl:{data}"}
    from xshot.hardware import processor_name  # where the timings come from: this CPU, its vector unit

    assert metrics["processor"] == processor_name("cpu") and metrics["threads"] >= 1
    import torch

    assert f"({torch.backends.cpu.get_cpu_capability()}" in metrics["processor"]
    assert (out / "model" / "trainable.safetensors").exists()
    assert len((out / "predictions").iterdir().__next__().read_text().splitlines()) == 6
    capsys.readouterr()

    assert main(["eval", "--model", str(out), "--data", f"jsonl:{data}"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores[f"jsonl:{data}"] == metrics["evaluations"][f"jsonl:{data}"]["scores"]
    with monkeypatch.context() as patched:
        import xshot.training.checkpoint as checkpoint

        patched.setattr(checkpoint, "load_model", lambda *a, **k: pytest.fail("the model loaded before the sets"))
        assert main(["eval", "--model", str(out), "--data", f"jsonl:{data},xnli:qq:test"]) == 2
        assert "xnli: unknown language 'qq'" in capsys.readouterr().err

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("premise\thypothesis\nthe cat sleeps .\tthe dog barks .\nkids play .\tchildren play .\n", encoding="utf-8")
    assert main(["predict", "--model", str(out), "--input", str(pairs), "--out", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["label"] in ("entailment", "neutral", "contradiction") for r in rows)
    for r in rows + [json.loads(line) for line in next((out / "predictions").iterdir()).read_text().splitlines()]:
        probs = r["probabilities"]
        assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert max(probs, key=probs.get) == (r["prediction"] if "prediction" in r else r["label"])


def test_predict_ner_raw_text_and_conll(tiny_encoder, tmp_path, capsys, monkeypatch):
    data = _write_jsonl(tmp_path / "ner.jsonl", NER)
    out = tmp_path / "run"
    assert main(["train", "--task", "ner", "--model", tiny_encoder, "--method", "finetune", "--train", f"jsonl:{data}",
                 "--seed", "1", "--max-steps", "1", "--out", str(out), "--quiet"]) == 0
    raw = tmp_path / "raw.txt"
    raw.write_text("barack obama visited paris\nthe un met\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--input", str(raw)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(r["tags"]) for r in rows] == [4, 3]
    assert all(t == "O" or t[:2] in ("B-", "I-") for r in rows for t in r["tags"])
    for r in rows:  # one distribution per word; its most likely class is the word's tag before IOB2 repair
        assert len(r["probabilities"]) == len(r["tags"])
        for tag, probs in zip(r["tags"], r["probabilities"]):
            assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
            best = max(probs, key=probs.get)
            assert best[2:] == tag[2:] and (best == "O") == (tag == "O")
    conll = tmp_path / "in.conll"
    conll.write_text("barack\nobama\n\nparis\n", encoding="utf-8")
    assert main(["predict", "--model", str(out), "--input", str(conll)]) == 0
    assert [r["tokens"] for r in map(json.loads, capsys.readouterr().out.splitlines())] == [["barack", "obama"], ["paris"]]
    import xshot.training.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "load_model", lambda *a, **k: pytest.fail("the model loaded before the input"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    for bad, says in ((empty, f"{empty}: empty file"), (tmp_path / "missing.txt", str(tmp_path / "missing.txt"))):
        assert main(["predict", "--model", str(out), "--input", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0]


def test_bad_usage_is_one_line_and_exit_2(tiny_encoder, tmp_path, capsys):
    assert main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "nosuch", "--train", "jsonl:x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'nosuch'" in err[0]
    assert main(["train", "--task", "pos", "--model", tiny_encoder, "--method", "prompt", "--train", "jsonl:x"]) == 2
    assert "task" in capsys.readouterr().err
    bad = tmp_path / "run.yaml"
    bad.write_text("task: nli\nmodel: [unclosed\n", encoding="utf-8")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and len(err.splitlines()) == 1
    assert main(["predict", "--model", str(tmp_path), "--input", str(bad)]) == 2
    assert "not a model saved by xshot" in capsys.readouterr().err


def test_a_device_this_machine_lacks_is_one_line_before_anything_loads(tiny_encoder, tmp_path, capsys, monkeypatch):
    import torch

    from xshot.training import run as run_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(run_module, "training_data", lambda *a, **k: pytest.fail("data was loaded"))
    args = ["train", "--task", "nli", "--model", tiny_encoder, "--method", "finetune", "--train", "jsonl:x",
            "--max-steps", "1", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xshot: error: device cuda: no CUDA device on this machine")
    assert main(args + ["--device", "cdua"]) == 2
    assert capsys.readouterr().err.strip() == \
        "xshot: error: device: unknown device 'cdua' (valid: auto, cpu, cuda, cuda:N, mps)"
    assert not (tmp_path / "run").exists()
    assert main(["predict", "--model", str(tmp_path), "--input", str(tmp_path / "x.tsv"), "--device", "cuda:1"]) == 2
    assert "device cuda:1: no CUDA device" in capsys.readouterr().err


def test_an_evaluation_set_that_cannot_be_read_fails_before_training(tiny_encoder, tmp_path, capsys, monkeypatch):
    from xshot.training import run as run_module

    data = _write_jsonl(tmp_path / "nli.jsonl", NLI)
    monkeypatch.setattr(run_module, "build_model", lambda *a, **k: pytest.fail("the model was built"))
    missing = tmp_path / "missing.jsonl"
    assert main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "finetune", "--train", f"jsonl:{data}",
                 "--eval", f"jsonl:{data},jsonl:{missing}", "--max-steps", "1", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"xshot: error: {missing}: cannot read file: No such file or directory"


def test_a_config_file_error_names_its_line_and_flags_are_not_blamed_on_the_file(tiny_encoder, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"task: nli\nmodel: {tiny_encoder}\nmethod: lora\ntrain: jsonl:x\nk: many\n"
                      "options:\n  rank: -1\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == f"xshot: error: {config}:5: k: Input should be a valid integer, unable to parse string as an integer"
    assert main(["train", "--config", str(config), "--k", "2"]) == 2  # k from the flag; the option's line
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"xshot: error: {config}:6: method 'lora': option rank must be at least 1, not -1"]
    config.write_text(f"task: nli\nmodel: {tiny_encoder}\nmethod: lora\ntrain: jsonl:x\n", encoding="utf-8")
    assert main(["train", "--config", str(config), "--max-length", "-"]) == 2  # a flag's own error: no file line
    assert main(["train", "--config", str(config), "-o", "rnk=8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"xshot: error: {config}: method 'lora': ") and "rnk" in err


@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_export_is_a_transformers_model_with_the_same_logits(request, tmp_path, capsys, backbone):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from xshot.training.checkpoint import load_model

    path = request.getfixturevalue(backbone)
    data = _write_jsonl(tmp_path / "nli.jsonl", NLI)
    run = tmp_path / "run"
    assert main(["train", "--task", "nli", "--model", path, "--method", "finetune", "--train", f"jsonl:{data}",
                 "--seed", "1", "--eval", f"jsonl:{data}", "--max-steps", "3", "--out", str(run), "-q"]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "hf")]) == 0
    exported = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model, _ = load_model(run)
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        ours = model(batch)
        theirs = exported(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert exported.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert len(tokenizer) == len(model.backbone.tokenizer)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert f"jsonl:{data}" in card and "95% bootstrap CI" in card and "finetune" in card


def test_export_refuses_methods_without_a_transformers_equivalent(tiny_encoder, tmp_path, capsys):
    data = _write_jsonl(tmp_path / "nli.jsonl", NLI)
    run = tmp_path / "run"
    assert main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "lora", "--train", f"jsonl:{data}",
                 "--max-steps", "1", "--out", str(run), "-q"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert "only finetune on NLI" in err and "model/peft" in err and len(err.strip().splitlines()) == 1


def test_an_unquoted_template_option_is_one_line_not_a_yaml_traceback(tmp_path, capsys):
    code = main(["train", "--task", "nli", "--model", "m", "--method", "zero-shot", "--train", "xnli:en:dev",
                 "-o", "template={premise}, right? {label}, {hypothesis}", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--option template: '{premise}, right? {label}, {hypothesis}' is not a YAML value" in err
    assert """-o 'template="..."'""" in err


def test_a_broken_model_manifest_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "xshot.json").write_text('{"method_config": {}}')
    code = main(["predict", "--model", str(tmp_path), "--input", str(tmp_path / "in.txt")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "xshot.json: not a valid xshot model manifest: run_config: Field required" in err


def test_the_manifest_round_trips_typed(tiny_encoder, tmp_path):
    from xshot.training.checkpoint import read_manifest

    data = _write_jsonl(tmp_path / "nli.jsonl", NLI)
    assert main(["train", "--task", "nli", "--model", tiny_encoder, "--method", "finetune", "--train", f"jsonl:{data}",
                 "--k", "2", "--seed", "1", "--eval", f"jsonl:{data}", "--max-steps", "1", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    manifest = read_manifest(tmp_path / "run")
    assert manifest.run_config.method == "finetune" and manifest.method().max_steps == 100
    assert manifest.entity_types == () and manifest.choices == []
