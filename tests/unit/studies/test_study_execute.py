"""Running studies locally: recording, resumption, failed cells, the injected runner."""

from __future__ import annotations

import dataclasses
import os

import pytest

import study_fake_runner
from xshot.errors import XshotError
from xshot.studies.execute import execute_cell, resolve_runner, run_study
from xshot.results import CellOutcome, RunResult
from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.studies.store import ResultsStore


@pytest.fixture
def cells(make_study):
    return expand(load_study(make_study()))


def _calls(log):
    return log.read_text().split() if log.exists() else []


def test_local_run_records_every_cell_and_resume_skips_them(tmp_path, cells, runner, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        result = run_study(cells, store, runner=runner, progress=False)
        assert (result.total, result.done, result.failed, result.skipped) == (8, 8, 0, 0)
        assert store.done_keys() == {c.key for c in cells}
        assert store.count() == 16
        again = run_study(cells, store, runner=runner, progress=False)
        assert (again.done, again.skipped) == (0, 8)
        assert _calls(log) == [c.key for c in cells]  # nothing ran twice
        rerun = run_study(cells, store, runner=runner, resume=False, progress=False)
        assert rerun.done == 8 and store.count() == 16  # --no-resume replaces, never duplicates
        assert len(_calls(log)) == 16


def test_callable_runner_gets_config_and_out_dir(tmp_path, cells):
    seen = []

    def runner(config, out_dir=None):
        seen.append((config.key(), out_dir))
        return study_fake_runner.run(config, out_dir)

    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_study(cells[:2], store, runner=runner, runs_dir=tmp_path / "runs", progress=False)
    assert [k for k, _ in seen] == [c.key for c in cells[:2]]
    for key, out_dir in seen:
        assert out_dir == (tmp_path / "runs" / key).resolve()
        assert (out_dir / "metrics.txt").read_text() == key


@pytest.mark.parametrize(
    "kind, error",
    [("error", "RuntimeError: fake failure in lora"), ("memory", "MemoryError: fake out of memory"),
     ("xshot", "XshotError: data.tsv:3: fake user error")],
)
def test_failed_cells_are_recorded_and_the_study_goes_on(tmp_path, cells, runner, monkeypatch, kind, error):
    monkeypatch.setenv("FAKE_RUNNER_FAIL", "lora")
    monkeypatch.setenv("FAKE_RUNNER_FAIL_KIND", kind)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        result = run_study(cells, store, runner=runner, progress=False)
        assert (result.done, result.failed) == (4, 4)
        df = store.to_dataframe()
        failed = df[df.status == "failed"]
        assert len(failed) == 4 and set(failed.method) == {"lora"}
        assert set(failed.error) == {error}
        assert all("Traceback" in tb for tb in failed.traceback)
        assert len(df[df.status == "done"]) == 8
        # failed cells are retried on rerun (resume on); done ones are not
        monkeypatch.delenv("FAKE_RUNNER_FAIL")
        retry = run_study(cells, store, runner=runner, progress=False)
        assert (retry.done, retry.failed, retry.skipped) == (4, 0, 4)
        df = store.to_dataframe()
        assert len(df) == 16 and set(df.status) == {"done"}


def test_malformed_metrics_are_a_failure(tmp_path, cells):
    outcome = execute_cell("study_fake_runner:bad_run", cells[0].config)
    assert outcome.status == "failed" and "invalid run result: key: Field required" in outcome.error

    def no_scores(config, out_dir=None):
        result = study_fake_runner.run(config)
        del next(iter(result["evaluations"].values()))["scores"]
        return result

    outcome = execute_cell(no_scores, cells[0].config)
    assert outcome.status == "failed" and ".scores: Field required" in outcome.error

    def nothing_evaluated(config, out_dir=None):
        return {**study_fake_runner.run(config), "evaluations": {}}

    outcome = execute_cell(nothing_evaluated, cells[0].config)
    assert outcome.status == "failed" and "no evaluations" in outcome.error


def test_torch_style_oom_is_a_failure(cells):
    class OutOfMemoryError(RuntimeError):  # what torch.cuda.OutOfMemoryError derives from
        pass

    def runner(config, out_dir=None):
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    outcome = execute_cell(runner, cells[0].config)
    assert outcome.status == "failed"
    assert outcome.error.startswith("OutOfMemoryError: CUDA out of memory")


def test_system_exit_is_not_swallowed(cells):
    def runner(config, out_dir=None):
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        execute_cell(runner, cells[0].config)


def test_unimportable_runner_fails_before_anything_runs(tmp_path, cells):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(XshotError, match="cannot import runner 'no_such_module_xyz:run'"):
            run_study(cells, store, runner="no_such_module_xyz:run", progress=False)
        with pytest.raises(XshotError, match="module:function"):
            run_study(cells, store, runner="justaname", progress=False)
        assert store.count() == 0


def test_default_runner_is_the_training_runner(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("xshot.training.run")
    fake.run = lambda config, out_dir=None: {}
    monkeypatch.setitem(sys.modules, "xshot.training.run", fake)
    assert resolve_runner(None) is fake.run


def test_data_root_and_tracking_reach_the_runner(tmp_path, cells):
    seen = []

    def runner(config, out_dir=None):
        seen.append((os.environ.get("XSHOT_DATA_ROOT"), os.environ.get("XSHOT_TRACK_DIR")))
        return study_fake_runner.run(config)

    before = os.environ.get("XSHOT_DATA_ROOT"), os.environ.get("XSHOT_TRACK_DIR")
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_study(cells[:1], store, runner=runner, data_root=tmp_path, track_dir=tmp_path / "tb", progress=False)
    assert seen == [(str(tmp_path.resolve()), str((tmp_path / "tb").resolve()))]
    assert (os.environ.get("XSHOT_DATA_ROOT"), os.environ.get("XSHOT_TRACK_DIR")) == before


def test_each_cell_starts_from_its_seed_whatever_ran_before(cells):
    """Runners that draw from the process RNGs before seeding themselves stay reproducible."""
    import random

    import numpy as np

    def runner(config, out_dir=None):
        metrics = study_fake_runner.run(config)
        for ev in metrics["evaluations"].values():
            ev["scores"]["accuracy"] = random.random() + float(np.random.rand())
        return metrics

    first = execute_cell(runner, cells[0].config)
    random.random(), np.random.rand(3)  # another cell's draws in the same process
    execute_cell(runner, cells[1].config)
    again = execute_cell(runner, cells[0].config)
    assert first.result.evaluations == again.result.evaluations


class _StubRay:
    """Just enough of the ray module to check how the executor starts a local instance."""

    def __init__(self, resources):
        self.resources = resources
        self.inits = []
        self.shutdowns = 0

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.inits.append(kwargs)

    def cluster_resources(self):
        return self.resources

    def shutdown(self):
        self.shutdowns += 1


def test_ray_local_instance_and_unsatisfiable_resources(tmp_path, cells, runner, monkeypatch):
    import sys

    from xshot.studies.spec import Resources

    stub = _StubRay({"CPU": 2.0})
    monkeypatch.setitem(sys.modules, "ray", stub)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(XshotError, match=r"asks for 4 CPU\(s\) and 0 GPU\(s\).*has 2 CPU\(s\)"):
            run_study(cells, store, executor="ray", runner=runner, resources=Resources(num_cpus=4),
                      ray_num_cpus=2, progress=False)
        assert store.count() == 0
    assert stub.inits == [{"include_dashboard": False, "logging_level": 30, "num_cpus": 2}]
    assert stub.shutdowns == 1


def test_an_unavailable_model_or_dataset_fails_its_cells_once(tmp_path, cells):
    """The first cell that cannot load a resource pays for it; the other cells needing it fail at once."""
    from xshot.errors import Unavailable
    from xshot.training.config import data_resource

    bad_eval = cells[0].config.eval[-1]
    first_lora = next(c.key for c in cells if c.config.method == "lora")

    def study(fail, name):
        calls = []

        def runner(config, out_dir=None):
            calls.append(config.key())
            problem = fail(config)
            if problem:
                raise problem
            return study_fake_runner.run(config, out_dir)

        with ResultsStore(tmp_path / f"{name}.sqlite") as store:
            result = run_study(cells, store, runner=runner, progress=False)
            return result, calls, {r["cell"]: r for r in store.rows()}

    # 8 cells (k 4 then 16, each finetune s1 s2, lora s1 s2), all on one model: it fails at the first lora cell
    result, calls, rows = study(lambda c: Unavailable(f"cannot load model {c.model!r}: offline", f"model:{c.model}")
                                if c.key() == first_lora else None, "model")
    assert (result.done, result.failed, len(calls)) == (2, 6, 3)
    assert all(r["error"].startswith("Unavailable: cannot load model") for r in rows.values() if r["status"] == "failed")
    assert sum("found by an earlier cell" in (r["error"] or "") for r in rows.values()) == 5
    # a dataset the k=16 cells evaluate on is missing: found once, the other k=16 cells fail without running
    result, calls, rows = study(lambda c: Unavailable(f"{bad_eval}: no such file", data_resource(bad_eval, c.eval_split))
                                if c.k == 16 else None, "data")
    assert (result.done, result.failed, len(calls)) == (4, 4, 5)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_resolved_into_the_cell_key(make_study, monkeypatch, native):
    """A store run on a machine with bf16 units and resumed on one without keeps both results apart."""
    from xshot import backbone

    import torch

    monkeypatch.setattr(backbone, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(backbone, "select_device", lambda requested: torch.device("cpu"))
    [cell, *_] = expand(load_study(make_study()))
    assert cell.config.device in ("auto", "cpu")
    assert cell.config.precision == ("bf16" if native else "fp32")
    assert cell.legacy_key == cell.config.model_copy(update={"precision": "auto"}).key() != cell.key
    [unresolved, *_] = expand(load_study(make_study()), resolve_precision=False)
    assert unresolved.config.precision == "auto" and unresolved.key == cell.legacy_key
    # where a report looks for an unresolved cell: its own key and each resolved precision's
    assert unresolved.stored_keys()[0] == unresolved.key and cell.key in unresolved.stored_keys()
    assert len(set(unresolved.stored_keys())) == 4 and cell.stored_keys() == [cell.key]


def test_rows_under_a_legacy_auto_key_count_only_at_the_precision_they_ran(tmp_path, make_study, runner,
                                                                            monkeypatch):
    from xshot import backbone

    import torch

    monkeypatch.setattr(backbone, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(backbone, "select_device", lambda requested: torch.device("cpu"))
    cells = expand(load_study(make_study()))
    legacy = [dataclasses.replace(c, config=c.config.model_copy(update={"precision": "auto"}), legacy_key=None)
              for c in cells]
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for old, new in zip(legacy, cells):  # a store from before: keyed with "auto", rows saying bf16 / fp32
            metrics = {**study_fake_runner.run(old.config), "precision": "bf16" if new.index % 2 == 0 else "fp32"}
            store.record(old, CellOutcome(RunResult.parse(metrics), 1.0))
        todo = run_study(cells, store, runner=runner, progress=False)
        assert todo.skipped == sum(c.index % 2 == 0 for c in cells) and todo.done == len(cells) - todo.skipped
        assert store.status_of(cells) == {c.key: "done" for c in cells}
        assert store.count() == 2 * len(cells) + 2 * todo.done  # the fp32 rows stay beside the new bf16 ones


def test_a_report_finds_cells_under_any_precision_they_were_stored_with(make_study, monkeypatch):
    import pandas as pd

    from xshot.reporting.frame import plan_note

    study = load_study(make_study())
    auto = expand(study, resolve_precision=False)
    resolved = [c.config.model_copy(update={"precision": "fp32"}).key() for c in auto]
    cells = [auto[0].key, resolved[1], resolved[2]]  # one stored before resolution, two after
    note = plan_note(study, pd.DataFrame({"cell": cells, "status": ["done", "done", "failed"]}))
    assert note.text == f"Study plan: {len(auto)} cell(s); 2 done, 1 failed, {len(auto) - 3} not in the results yet."
