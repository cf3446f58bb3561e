"""xshot run / plan / results through the CLI entry point."""

from __future__ import annotations

import dataclasses
import io
import json

import pandas as pd
import pytest

from xshot.cli import main
from xshot.studies.grid import expand
from xshot.studies.plan import REFERENCE_THREADS, calibrate, default_costs, estimate, model_size_factor, train_steps
from xshot.studies.spec import load_study
from xshot.studies.store import ResultsStore


@pytest.fixture
def ran(tmp_path, make_study, runner, capsys):
    """A tiny study run to completion with the fake runner: (study path, store path, cells)."""
    study, store = make_study(), tmp_path / "r.sqlite"
    assert main(["run", str(study), "--store", str(store), "--runner", runner, "-q"]) == 0
    capsys.readouterr()
    return study, store, expand(load_study(study))


def test_run_reports_and_resumes(ran, runner, capsys):
    study, store, cells = ran
    assert main(["run", str(study), "--store", str(store), "--runner", runner, "-q"]) == 0
    out = capsys.readouterr().out
    assert "8 cells, 8 already done, 0 to run" in out
    assert "0 done, 0 failed, 8 skipped" in out


def test_run_writes_its_report_when_asked(ran, runner, tmp_path, capsys):
    study, store, _ = ran
    assert main(["run", str(study), "--store", str(store), "--runner", runner, "-q", "--report", str(tmp_path / "rep")]) == 0
    assert "report: " in capsys.readouterr().out
    text = (tmp_path / "rep" / "report.md").read_text()
    assert text.startswith("# Study report: tiny") and (tmp_path / "rep" / "report.html").exists()


def test_run_model_override_and_default_store(tmp_path, make_study, runner, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = make_study()
    assert main(["run", str(study), "--runner", runner, "-q", "--model", "/models/x"]) == 0
    with ResultsStore(tmp_path / "runs" / "tiny.sqlite", create=False) as store:
        assert set(store.to_dataframe().model) == {"/models/x"}


def test_run_failed_cells_are_reported(tmp_path, make_study, runner, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_RUNNER_FAIL", "finetune")
    store = tmp_path / "r.sqlite"
    main(["run", str(make_study()), "--store", str(store), "--runner", runner, "-q"])
    out = capsys.readouterr().out
    assert "4 done, 4 failed" in out and "rerun the same command to retry them" in out
    with ResultsStore(store) as s:
        assert sorted(s.cell_status().values()) == ["done"] * 4 + ["failed"] * 4


def test_run_bad_data_root_is_a_user_error(tmp_path, make_study, capsys):
    assert main(["run", str(make_study()), "--data-root", str(tmp_path / "nope")]) == 2
    assert "--data-root is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("old,new,says", [
    ("batch_size: 4}", "batch_size: 4, device: cuda}", "device cuda: no CUDA device on this machine"),
    ("languages: [de, sw]", "languages: [de, qq]", "setting 'src': xnli: unknown language 'qq'"),
])
def test_run_refuses_what_this_machine_lacks_before_the_store_is_made(tmp_path, make_study, runner, capsys,
                                                                      monkeypatch, old, new, says):
    import torch

    from tests.unit.studies.study_fixtures import TINY

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    study, store = make_study(TINY.replace(old, new)), tmp_path / "r.sqlite"
    assert main(["run", str(study), "--store", str(store), "--runner", runner, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"xshot: error: {study}: {says}")
    assert not store.exists()


def test_a_study_device_is_a_name_and_may_be_another_machines(make_study, capsys, monkeypatch):
    import torch

    from tests.unit.studies.study_fixtures import TINY

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["plan", str(make_study(TINY.replace("batch_size: 4}", "batch_size: 4, device: cuda}")))]) == 0
    bad = make_study(TINY.replace("batch_size: 4}", "batch_size: 4, device: gpu}"), "bad.yaml")
    assert main(["plan", str(bad)]) == 2
    assert "unknown device 'gpu' (valid: auto, cpu, cuda, cuda:N, mps)" in capsys.readouterr().err


def test_plan_table_without_store(tmp_path, make_study, capsys):
    assert main(["plan", str(make_study()), "--store", str(tmp_path / "none.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "study tiny: 8 cells" in out
    assert "finetune" in out and "lora" in out and "pending" in out
    assert "8 pending" in out and "default per-method timings" in out
    assert not (tmp_path / "none.sqlite").exists()  # plan never creates a store


def test_plan_json_defaults(tmp_path, make_study, capsys):
    assert main(["plan", str(make_study()), "--json", "--store", str(tmp_path / "none.sqlite")]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["study"] == "tiny"
    assert len(plan["cells"]) == 8
    cell = plan["cells"][0]
    assert (cell["method"], cell["k"], cell["seed"], cell["status"], cell["steps"]) == ("finetune", 4, 1, "pending", 5)
    assert cell["eval"] == ["xnli:de:test", "xnli:sw:test"] and cell["eval_examples"] == 100
    assert cell["est_s"] == pytest.approx(cell["est_load_s"] + cell["est_train_s"] + cell["est_eval_s"], abs=0.05)
    est = plan["estimate"]
    assert (est["cells"], est["pending"], est["to_run"], est["basis"]) == (8, 8, 8, "defaults")
    assert est["to_run_s"] == pytest.approx(sum(c["est_s"] for c in plan["cells"]), abs=0.5)


def test_plan_json_calibrated_from_store(ran, capsys, monkeypatch):
    study, store, cells = ran
    monkeypatch.setenv("OMP_NUM_THREADS", str(REFERENCE_THREADS))  # the fake rows record no threads
    assert main(["plan", str(study), "--json", "--store", str(store)]) == 0
    plan = json.loads(capsys.readouterr().out)
    est = plan["estimate"]
    assert (est["done"], est["to_run"], est["to_run_s"], est["basis"], est["calibrated_from_cells"]) == (8, 0, 0, "store", 8)
    # the fake runner reports train_s = 1.0 and eval_s = 0.5 per set for every cell: calibration reproduces it
    for c in plan["cells"]:
        assert c["status"] == "done"
        assert c["est_train_s"] == pytest.approx(1.0, rel=0.02)
        assert c["est_eval_s"] == pytest.approx(1.0, rel=0.02)
    assert main(["plan", str(study), "--json", "--store", str(store), "--no-resume"]) == 0
    assert json.loads(capsys.readouterr().out)["estimate"]["to_run"] == 8


@pytest.mark.parametrize("native", [True, False])
def test_the_precision_a_cell_runs_at_here_scales_its_estimate(make_study, monkeypatch, native):
    """bf16 is cheaper on bf16 matrix units and dearer where the CPU emulates it; auto picks what is faster."""
    from xshot.studies import plan

    monkeypatch.setattr(plan, "cpu_has_native_bf16", lambda: native)
    config = expand(load_study(make_study()))[0].config
    _, train, ev = default_costs(config.model_copy(update={"precision": "fp32"}))
    _, bf16_train, bf16_eval = default_costs(config.model_copy(update={"precision": "bf16"}))
    if native:
        assert (bf16_train, bf16_eval) == pytest.approx((train / plan.BF16_SPEEDUP[0], ev / plan.BF16_SPEEDUP[1]))
    else:
        assert (bf16_train, bf16_eval) == pytest.approx((train * plan.EMULATED_BF16_SLOWDOWN[0],
                                                         ev * plan.EMULATED_BF16_SLOWDOWN[1]))
        assert min(plan.EMULATED_BF16_SLOWDOWN) > 1
    _, auto_train, _ = default_costs(config.model_copy(update={"precision": "auto"}))
    assert auto_train == pytest.approx(min(train, bf16_train))


@pytest.mark.parametrize("native", [True, False, None])
def test_fp16_on_a_cpu_without_fp16_units_is_charged_as_emulated(make_study, monkeypatch, native):
    from xshot.studies import plan

    monkeypatch.setattr(plan, "cpu_has_native_fp16", lambda: native)
    config = expand(load_study(make_study()))[0].config
    _, train, ev = default_costs(config.model_copy(update={"precision": "fp32"}))
    _, fp16_train, fp16_eval = default_costs(config.model_copy(update={"precision": "fp16"}))
    slow = plan.EMULATED_BF16_SLOWDOWN if native is False else (1.0, 1.0)
    assert (fp16_train, fp16_eval) == pytest.approx((train * slow[0], ev * slow[1]))


def test_threads_scale_the_defaults_by_amdahls_law(tmp_path, make_study, capsys, monkeypatch):
    from xshot.studies.plan import parallel_fraction, thread_factor

    # p = 0.9: 1 thread takes 1 / (0.1 + 0.45) = 1.818x the 2 threads of the unit costs, 4 threads 0.591x
    assert thread_factor(1, 0.9) == pytest.approx(1 / 0.55)
    assert thread_factor(4, 0.9) == pytest.approx((0.1 + 0.9 / 4) / 0.55)
    assert thread_factor(REFERENCE_THREADS, 0.5) == 1.0 and thread_factor(8, 0.0) == 1.0
    # by model size: me5-small's measured fractions, gemma3-270m's, between them in log size, the ends beyond
    assert (parallel_fraction("train", 1.066), parallel_fraction("eval", 4.44)) == (0.45, 0.76)
    assert parallel_fraction("train", (1.066 * 4.44) ** 0.5) == pytest.approx((0.45 + 0.85) / 2)
    assert (parallel_fraction("train", 0.1), parallel_fraction("train", 40.0)) == (0.45, 0.85)
    config = expand(load_study(make_study()))[0].config
    size = model_size_factor(config.model)
    load, train, ev = default_costs(config)
    one = default_costs(config, threads=1)
    assert one == pytest.approx((load, train * thread_factor(1, parallel_fraction("train", size)),
                                 ev * thread_factor(1, parallel_fraction("eval", size))))
    on_gpu = config.model_copy(update={"device": "cuda"})
    assert default_costs(on_gpu, threads=1) == default_costs(on_gpu)  # threads are a CPU matter

    def plan(*extra):
        assert main(["plan", str(make_study()), "--json", "--store", str(tmp_path / "none.sqlite"), *extra]) == 0
        return json.loads(capsys.readouterr().out)

    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    local, ray = plan(), plan("--executor", "ray")  # the study asks Ray for 1 CPU per cell
    assert (local["estimate"]["threads_per_cell"], ray["estimate"]["threads_per_cell"]) == (4, 1)
    p = parallel_fraction("train", size)
    assert ray["cells"][0]["est_train_s"] == pytest.approx(
        local["cells"][0]["est_train_s"] * thread_factor(1, p) / thread_factor(4, p), abs=0.02)  # both rounded to 10 ms
    assert main(["plan", str(make_study()), "--executor", "slurm"]) == 2
    assert "slurm" in capsys.readouterr().err


def test_calibration_counts_the_threads_a_cell_ran_with(ran):
    """A cell measured at 1 thread calibrates the defaults as the same cell at 2 threads would, scaled."""
    from xshot.studies.plan import parallel_fraction, thread_factor

    _, store, cells = ran
    with ResultsStore(store) as s:
        rows = s.rows()
    model = cells[0].config.model
    size = model_size_factor(model)
    at_reference = calibrate(rows).ratios("finetune", model)[0]
    at_one = calibrate([{**r, "threads": 1} for r in rows]).ratios("finetune", model)[0]
    assert at_one == pytest.approx((at_reference[0] / thread_factor(1, parallel_fraction("train", size)),
                                    at_reference[1] / thread_factor(1, parallel_fraction("eval", size))))


def test_a_store_resumed_on_another_machine_is_calibrated_by_its_own_cells(ran, monkeypatch):
    from xshot.studies import plan

    _, store, cells = ran
    with ResultsStore(store) as s:
        rows = s.rows()
    slow = [{**r, "processor": "Slow CPU (AVX2)", "train_s": 10 * r["train_s"]} for r in rows]
    fast = [{**r, "processor": "Fast CPU (AVX512, bf16 matrix units)", "cell": r["cell"] + "-fast"} for r in rows]
    monkeypatch.setattr(plan, "processor_name", lambda device="cpu": "Slow CPU (AVX2)")
    on_slow = estimate(cells, rows=slow + fast)
    assert on_slow["estimate"]["calibrated_on"] == "Slow CPU (AVX2)"
    assert on_slow["estimate"]["calibrated_from_cells"] == len(cells)
    assert on_slow["cells"][0]["est_train_s"] == pytest.approx(10 * estimate(cells, rows=fast)["cells"][0]["est_train_s"],
                                                               rel=0.01)
    monkeypatch.setattr(plan, "processor_name", lambda device="cpu": "A third CPU (AVX2)")
    elsewhere = estimate(cells, rows=slow + fast)  # none of its own: every finished cell counts
    assert elsewhere["estimate"]["calibrated_on"] == "other or unrecorded processors"
    assert elsewhere["estimate"]["calibrated_from_cells"] == 2 * len(cells)
    assert estimate(cells, rows=[])["estimate"]["calibrated_on"] is None


def test_calibration_generalises_to_unseen_cells(ran):
    _, store, cells = ran
    with ResultsStore(store) as s:
        rows = s.rows()
    cal = calibrate(rows)
    longer = cells[0].config.model_copy(update={"max_steps": 50, "model": "tiny-other"})
    (r_train, _), basis = cal.ratios("finetune", "tiny-other")
    assert basis == "store: same method"
    _, train_pred, _ = default_costs(longer)
    assert train_pred * r_train == pytest.approx(10.0, rel=0.05)  # 10x the steps of the measured 1.0 s
    bigger = longer.model_copy(update={"model": "some-base-model"})  # 10x a "tiny" model's compute
    assert default_costs(bigger)[1] * cal.ratios("finetune", bigger.model)[0][0] == pytest.approx(100.0, rel=0.05)
    assert cal.ratios("dualcl", "x")[1] == "store: all finished cells"
    assert calibrate([]).ratios("lora", "m") == ((1.0, 1.0), "defaults")


def test_cost_model_pieces(make_study):
    cells = expand(load_study(make_study()))
    assert train_steps(cells[0].config) == 5
    full = cells[0].config.model_copy(update={"k": None, "max_steps": None, "epochs": 1.0, "batch_size": 10})
    assert train_steps(full) == 249  # xnli dev: 2490 examples
    target = cells[0].config.model_copy(update={"target_train": "xnli:de:dev", "target_k": 4})
    assert train_steps(target) == 10  # two phases of max_steps
    assert model_size_factor("xlm-roberta-large") > model_size_factor("xlm-roberta-base") > model_size_factor("e5-small")
    assert model_size_factor("google/mt5-xl") == 10.0 and model_size_factor("xlm-roberta-base") == 1.0
    assert model_size_factor("gemma3-270m") == pytest.approx(270 / 110)
    plan = estimate(cells, {cells[0].key: "done"})
    assert plan["estimate"]["done"] == 1 and plan["estimate"]["to_run"] == 7


def test_a_cell_loads_its_checkpoint_unless_an_earlier_cell_of_the_process_did(tmp_path, make_study):
    """The first cell of a model pays the load from disk (fixed part + 5 s per GB of fp32 weights); later cells
    of the same checkpoint copy it from memory, while it is one of the two the process keeps; a finished cell,
    skipped, loads nothing."""
    from xshot.studies.plan import LOAD_S, RELOAD_S, load_seconds

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 100, "num_hidden_layers": 2, "vocab_size": 1000}))
    params = 1000 * 100 + 12 * 2 * 100 * 100  # embeddings and layer matrices
    assert load_seconds(str(tmp_path)) == pytest.approx(LOAD_S[0] + LOAD_S[1] * params * 4 / 1e9)
    cells = expand(load_study(make_study()))
    one = cells[0].config
    models = ["model-a", "model-a", "model-b", "model-a", "model-c", "model-b", "model-a"]
    mix = [dataclasses.replace(cells[0], config=one.model_copy(update={"model": m, "seed": i}))
           for i, m in enumerate(models)]
    loads = [c["est_load_s"] for c in estimate(mix)["cells"]]
    first = {m: round(load_seconds(m), 2) for m in set(models)}
    # a, a (kept), b, a (kept: a and b), c (keeps a and c), b (loaded again, keeps c and b), a (loaded again)
    assert loads == [first["model-a"], RELOAD_S, first["model-b"], RELOAD_S, first["model-c"], first["model-b"],
                     first["model-a"]]
    done = estimate(mix, {mix[0].key: "done"})["cells"]
    assert [c["est_load_s"] for c in done[:2]] == [first["model-a"], first["model-a"]]  # the first skipped: the second loads
    ray = estimate(mix, in_order=False)["cells"]  # Ray tasks: no order, so every cell loads
    assert [c["est_load_s"] for c in ray] == [first[m] for m in models]


def test_ner_unit_costs_default_to_nli_ones_scaled():
    """A method measured on NER declares its own unit costs; one that was not scales its NLI ones."""
    from xshot.methods import NER_OVER_NLI, Cost

    assert Cost(2.0, 0.1, ner_step_s=1.0, ner_eval_s=0.05).unit("ner") == (1.0, 0.05)
    assert Cost(2.0, 0.1).unit("ner") == pytest.approx((2.0 * NER_OVER_NLI[0], 0.1 * NER_OVER_NLI[1]))
    assert Cost(2.0, 0.1, ner_step_s=1.0).unit("nli") == (2.0, 0.1)


def test_model_size_from_a_local_config_counts_the_layers_not_the_embeddings(tmp_path):
    """The unit costs were measured on me5-small (factor 1.066); a model's factor is its layers' matrix
    weights against me5-small's, whatever its vocabulary (a lookup, frozen by default)."""
    import json

    def model(hidden, layers, vocab):
        path = tmp_path / f"m{hidden}-{layers}-{vocab}"
        path.mkdir()
        (path / "config.json").write_text(json.dumps({"hidden_size": hidden, "num_hidden_layers": layers,
                                                      "vocab_size": vocab}))
        return str(path)

    me5_small = model_size_factor(model(384, 12, 250037))
    assert me5_small == pytest.approx(1.066)
    assert model_size_factor(model(384, 12, 1000)) == me5_small
    assert model_size_factor(model(640, 18, 262144)) == pytest.approx(me5_small * 18 * 640**2 / (12 * 384**2))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_results_export_to_file(ran, tmp_path, capsys, fmt):
    _, store, cells = ran
    out = tmp_path / "export" / f"results.{fmt}"
    assert main(["results", str(store), "--format", fmt, "--out", str(out)]) == 0
    assert "wrote 16 rows" in capsys.readouterr().err
    if fmt == "csv":
        df = pd.read_csv(out)
    elif fmt == "json":
        df = pd.DataFrame(json.loads(out.read_text()))
    else:
        df = pd.read_parquet(out)
    assert len(df) == 16
    assert set(df.cell) == {c.key for c in cells}
    for col in ("score", "ci_low", "ci_high", "score_accuracy", "ci_low_macro_f1", "train_s", "versions", "language"):
        assert col in df.columns
    with ResultsStore(store) as s:
        expected = s.to_dataframe()
    assert sorted(df.score.round(6)) == sorted(expected.score.round(6))
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_results_to_stdout_and_errors(ran, tmp_path, capsys):
    _, store, _ = ran
    assert main(["results", str(store)]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(df) == 16
    assert main(["results", str(store), "--format", "json", "--study", "other"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["results", str(store), "--format", "parquet"]) == 2
    assert "give --out FILE" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such results store" in capsys.readouterr().err


def test_plan_counts_the_choosing_on_the_shots():
    from xshot.studies.plan import selection_steps
    from xshot.training.config import RunConfig

    base = RunConfig(task="nli", model="some-base-model", method="prompt", train="xnli:en:dev", k=16,
                     eval=["xnli:de:test"], max_steps=10, precision="fp32")
    cv = base.model_copy(update={"search": {"learning_rate": [1e-5, 3e-5], "max_steps": [10, 20]},
                                 "selection": "cv", "selection_folds": 4})
    assert selection_steps(base) == 0
    assert selection_steps(cv) == (10 + 20) * 2 * 4  # every candidate on every fold
    assert selection_steps(cv.model_copy(update={"selection": "dev-k"})) == (10 + 20) * 2
    _, plain_train, plain_eval = default_costs(base)
    assert default_costs(cv)[1] == pytest.approx(plain_train * (10 + 240) / 10)
    searched = base.model_copy(update={"options": {"label_words": "search", "search_steps": 5}})
    assert default_costs(searched)[1] == pytest.approx(plain_train * (10 + 4 * 2 * 5) / 10)  # 4 candidates, 2 folds
    demos = base.model_copy(update={"options": {"demonstrations": "random", "demo_sets": 4}})
    assert default_costs(demos)[1] == pytest.approx(plain_train * 3)
    assert default_costs(demos)[2] == pytest.approx(plain_eval * 12)


def test_plan_counts_entlm_whole_vocabulary_head(tmp_path):
    """EntLM's objective sends every token through the whole vocabulary: V·H on top of the body's 12·L·H²."""
    from xshot.methods import get_method
    from xshot.training.config import RunConfig

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 3072}))
    full = RunConfig(task="ner", model=str(tmp_path), method="prompt", train="wikiann:en", k=10,
                     eval=["wikiann:de"], max_steps=10, precision="fp32")
    restricted = full.model_copy(update={"options": {"ner_objective": "restricted"}})
    factor = 1 + 3072 * 64 / (12 * 2 * 64 * 64)  # = 3
    _, train_full, eval_full = default_costs(full)
    _, train_restricted, eval_restricted = default_costs(restricted)
    assert train_full == pytest.approx(factor * train_restricted) and eval_full == pytest.approx(factor * eval_restricted)
    finetune = full.model_copy(update={"method": "finetune"})
    assert default_costs(finetune)[1] == pytest.approx(
        train_restricted * get_method("finetune").cost.unit("ner")[0] / get_method("prompt").cost.unit("ner")[0])


def test_plan_charges_whole_sentence_scoring_its_sentences_and_scored_vocabulary(tmp_path):
    """A {label} template (XGLM's) reads one sentence per class and sends the tokens after their shared start
    (about half) through the whole vocabulary: 3 x (1 + 0.5 (V·H / 12·L·H²)) the default template's cost."""
    from xshot.methods.prompt.config import WHOLE_SENTENCE_SCORED
    from xshot.training.config import RunConfig

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 3072}))
    base = RunConfig(task="nli", model=str(tmp_path), method="zero-shot", train="xnli:en:dev", k=16,
                     eval=["xnli:de:test"], precision="fp32")
    factor = 3 * (1 + WHOLE_SENTENCE_SCORED * 3072 * 64 / (12 * 2 * 64 * 64))
    for options in ({"template": "xglm"}, {"template": "{premise}, right? {label}, {hypothesis}"}):
        xglm = base.model_copy(update={"options": options})
        assert default_costs(xglm)[2] == pytest.approx(factor * default_costs(base)[2])
    trained = base.model_copy(update={"method": "prompt", "max_steps": 10})
    xglm = trained.model_copy(update={"options": {"template": "xglm"}})
    assert default_costs(xglm)[1] == pytest.approx(factor * default_costs(trained)[1])


def _pilot_csv(path, diffs_by_seed: dict[int, list[float]]) -> None:
    """lora − finetune per seed and language (de, sw), as the rows an export has."""
    rows = []
    for seed, diffs in diffs_by_seed.items():
        for lang, d in zip(("de", "sw"), diffs):
            for method, score in (("finetune", 0.40), ("lora", 0.40 + d)):
                rows.append({"cell": f"{method}-{seed}", "status": "done", "task": "nli", "model": "tiny-model",
                             "method": method, "train": "xnli:en:dev", "source_language": "en", "k": 16, "seed": seed,
                             "eval_set": f"xnli:{lang}:test", "language": lang, "score": score})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_plan_detect_sizes_the_seeds_from_the_pilot_spread(tmp_path, make_study, capsys):
    from scipy import stats

    pilot = tmp_path / "pilot.csv"
    # per-seed mean differences 1, 3, 5 points: sd 2 (the languages' differences average to them)
    _pilot_csv(pilot, {1: [0.00, 0.02], 2: [0.02, 0.04], 3: [0.04, 0.06]})
    args = ["plan", str(make_study()), "--store", str(tmp_path / "none.sqlite"), "--detect", "3", "--pilot", str(pilot)]
    assert main([*args, "--json"]) == 0
    power = json.loads(capsys.readouterr().out)["power"]
    (c,) = power["comparisons"]
    assert (c["comparison"], c["pilot_seeds"], power["family"]) == ("lora − finetune", 3, 1)
    assert c["sd"] == pytest.approx(2.0) and c["delta"] == pytest.approx(3.0)
    # n seeds detect 3 points when (t_0.975,n-1 + t_0.8,n-1) * 2 / sqrt(n) <= 3; n = 6 gives 2.96 (and 6 is
    # the sign-flip test's floor at 0.05)
    mde = lambda n: (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * 2 / n**0.5  # noqa: E731
    assert mde(6) <= 3 and power["seeds_needed"] == 6 and power["floor"] == 6
    upper = 2 * (2 / stats.chi2.ppf(0.2, 2)) ** 0.5
    assert c["sd_upper"] == pytest.approx(upper)
    assert power["seeds_needed_upper"] == next(n for n in range(6, 100)
                                               if (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * upper / n**0.5 <= 3)
    assert power["needed_s"] == pytest.approx(power["per_seed_s"] * 6, abs=0.5) and power["study_seeds"] == 2
    assert main(args) == 0
    assert "6 seeds detect 3 points in every comparison of the family" in capsys.readouterr().out


@pytest.mark.parametrize("pilot, message", [
    ("missing.csv", "no pilot results to read a seed-level spread from: pass --pilot"),
    ("one-seed.csv", "no comparison with 2 or more paired seeds"),
])
def test_plan_detect_without_a_usable_pilot_is_one_line(tmp_path, make_study, capsys, pilot, message):
    _pilot_csv(tmp_path / "one-seed.csv", {1: [0.0, 0.02]})
    assert main(["plan", str(make_study()), "--store", str(tmp_path / "none.sqlite"), "--detect", "3",
                 "--pilot", str(tmp_path / pilot)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_power_plans_family_is_the_studys_not_the_pilots(tmp_path, make_study):
    from xshot.cli.study import study_family
    from tests.unit.studies.study_fixtures import TINY

    cells = expand(load_study(make_study(TINY)))
    assert study_family(cells, [("lora", "finetune")]) == 2  # K = 4 and K = 16: two tables
    assert study_family(cells, [("lora", "finetune"), ("lora", "icl")]) == 2  # no table runs icl
    assert study_family(cells, None) is None


def test_plan_counts_the_steps_the_run_takes():
    """One rule (training.config.resolve_steps) for the run and the plan: max_steps, else epochs over the shots
    at the method's batch size, else the method's default steps (was: 10 epochs at batch 16 in the plan only)."""
    from xshot.methods import get_method
    from xshot.training.config import RunConfig

    base = dict(task="nli", model="m", method="finetune", train="xnli:en:dev", k=4, seed=1, eval=["xnli:de:test"])
    default_steps = get_method("finetune").config_class().max_steps
    assert train_steps(RunConfig(**base)) == default_steps == 100
    assert train_steps(RunConfig(**base, epochs=2)) == 2 * 2  # 12 shots in batches of 8: 2 steps per epoch
    assert train_steps(RunConfig(**base, epochs=2, batch_size=4)) == 2 * 3
    assert train_steps(RunConfig(**base, max_steps=7)) == 7
    assert train_steps(RunConfig(**{**base, "method": "zero-shot"})) == 0


def test_plan_charges_the_whole_vocabulary_only_to_a_verbalizer_head(tmp_path):
    """LoRA with its linear head (its default) on NER scores its classes, not EntLM's vocabulary: the plan had
    charged it the vocabulary product (673 s planned against 122 s measured for a headline NER cell)."""
    from xshot.studies.plan import default_costs
    from xshot.training.config import RunConfig

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 3072}))
    base = dict(task="ner", model=str(tmp_path), train="wikiann:en", k=10, seed=1, eval=["masakhaner2:hau:test"],
                max_steps=60)
    finetune = default_costs(RunConfig(method="finetune", **base), 1)
    linear = default_costs(RunConfig(method="lora", **base), 1)
    verbalizer = default_costs(RunConfig(method="lora", options={"head": "verbalizer"}, **base), 1)
    from xshot.methods import get_method

    own = get_method("lora").cost.unit("ner")[0] / get_method("finetune").cost.unit("ner")[0]
    assert linear[1] / finetune[1] == pytest.approx(own)  # the methods' own step costs, nothing more
    assert verbalizer[1] > 2 * linear[1]  # EntLM's objective through the verbalizer head
