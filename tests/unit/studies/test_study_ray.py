"""The Ray executor gives the same rows as the local one (one local Ray instance, 2 CPUs)."""

from __future__ import annotations

import json

from xshot.studies.execute import run_study
from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.studies.store import ResultsStore

from study_fixtures import TINY

SAME = ["cell", "study", "status", "task", "model", "method", "train", "source_language", "k", "seed", "eval_set",
        "language", "primary_metric", "score", "ci_low", "ci_high", "score_accuracy", "score_macro_f1",
        "ci_low_macro_f1", "ci_high_macro_f1", "train_s", "eval_s", "peak_memory_mb", "trainable_params",
        "total_params", "fertility", "versions", "n", "config"]


def test_local_and_ray_give_the_same_results(tmp_path, make_study, runner, monkeypatch):
    study = load_study(make_study())
    cells = expand(study)
    crashed = cells[-1]
    with ResultsStore(tmp_path / "local.sqlite") as store:
        local = run_study(cells[:-1], store, executor="local", runner=runner, progress=False)
        local_df = store.to_dataframe()
    assert local.done == 7

    # the last cell's worker dies (like an OOM kill): recorded as failed, the rest go on
    monkeypatch.setenv("FAKE_RUNNER_HARD_CRASH_KEY", crashed.key)
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        result = run_study(cells, store, executor="ray", runner=runner, resources=study.resources,
                           ray_num_cpus=2, data_root=tmp_path, progress=False)
        ray_df = store.to_dataframe()
    assert (result.done, result.failed) == (7, 1)

    failed = ray_df[ray_df.status == "failed"]
    assert list(failed.cell) == [crashed.key]
    assert "Worker" in failed.error.iloc[0] or "worker" in failed.error.iloc[0], failed.error.iloc[0]
    done = ray_df[ray_df.status == "done"]
    key = ["cell", "eval_set"]
    a = local_df[SAME].sort_values(key).reset_index(drop=True)
    b = done[SAME].sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) == 14
    assert a.equals(b), (a.compare(b) if a.shape == b.shape else (a.shape, b.shape))
    assert json.loads(b.config.iloc[0])["max_steps"] == 5


def test_a_lost_worker_is_retried_and_an_xshot_failure_is_not(tmp_path, make_study, runner, monkeypatch):
    from collections import Counter

    study = load_study(make_study())
    cells = expand(study)
    lost = cells[0]
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    monkeypatch.setenv("FAKE_RUNNER_CRASH_ONCE_KEY", lost.key)  # its worker dies the first time only
    monkeypatch.setenv("FAKE_RUNNER_CRASH_MARKER", str(tmp_path / "crashed"))
    monkeypatch.setenv("FAKE_RUNNER_FAIL", "lora")  # raises inside the runner: a failure, not a lost worker
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        result = run_study(cells, store, executor="ray", runner=runner, resources=study.resources, ray_num_cpus=2,
                           progress=False)
        status = store.cell_status()
    assert (tmp_path / "crashed").exists() and status[lost.key] == "done"  # retried after its worker died
    assert (result.done, result.failed) == (4, 4)
    calls = Counter(log.read_text().split())
    assert all(calls[c.key] == 1 for c in cells)  # the failing lora cells ran once each (the crash came before
    # the log line, so the lost cell's one logged call is its retry)


def test_every_node_is_probed_before_the_first_cell(tmp_path, make_study, runner, monkeypatch):
    import pytest

    from xshot.errors import XshotError

    study = load_study(make_study(TINY.replace("${XSHOT_TEST_MODEL:-tiny-model}", "/no/such/model")))
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        with pytest.raises(XshotError, match=r"Ray node .*: model '/no/such/model': model directory .* does not "
                                             r"exist; no cell has run"):
            run_study(expand(study), store, executor="ray", runner=runner, ray_num_cpus=2, progress=False)
        assert store.count() == 0


def test_a_runs_dir_the_nodes_do_not_share_is_found_before_the_first_cell(tmp_path, make_study, runner,
                                                                        monkeypatch):
    import pytest

    from xshot.errors import XshotError

    monkeypatch.setattr("xshot.studies.execute.write_token", lambda runs_dir, token: None)  # as if on another disk
    study = load_study(make_study())
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        with pytest.raises(XshotError, match="--runs-dir .* is not the driver's directory here"):
            run_study(expand(study), store, executor="ray", runner=runner, ray_num_cpus=2, runs_dir=tmp_path / "runs",
                      progress=False)
        assert store.count() == 0
