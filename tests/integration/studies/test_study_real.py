"""A tiny real study (offline me5-small, real XNLI files) under both executors: same cells, same scores.

Uses the real runner (``xshot.training.run:run``, the default of ``run_study``), the real data in
../shared/data (or $XSHOT_DATA_ROOT) and the offline me5-small (``$XSHOT_ME5``, else built/located by
../shared/tools/offline_models.py). Missing data or model fails the test, never skips it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xshot.cli import main
from xshot.studies.execute import run_study
from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.studies.store import ResultsStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]

STUDY = """\
name: real-tiny
task: nli
models:
  - ${XSHOT_ME5}
methods: [finetune, lora]
seeds: [1]
defaults: {max_steps: 2, batch_size: 4, eval_limit: 12, max_length: 64, bootstrap: 50, device: cpu}
resources: {num_cpus: 1, num_gpus: 0}
settings:
  - name: en
    train: xnli:en:dev
    k: [2]
    eval: [xnli:de:test, xnli:sw:test]
"""

SCORES = ["score", "ci_low", "ci_high", "score_accuracy", "score_macro_f1"]


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = Path(os.environ.get("XSHOT_DATA_ROOT") or REPO.parent / "shared" / "data")
    if not (root / "nli" / "xnli" / "dev" / "en.tsv").is_file():
        pytest.fail(f"real XNLI data missing under {root}: set XSHOT_DATA_ROOT")
    return root


@pytest.fixture(scope="module")
def me5() -> str:
    path = os.environ.get("XSHOT_ME5")
    if not path:
        tool = REPO.parent / "shared" / "tools" / "offline_models.py"
        out = subprocess.run([sys.executable, str(tool), "path", "me5-small"], capture_output=True, text=True)
        if out.returncode != 0:
            pytest.fail(f"cannot locate or build me5-small: {out.stderr.strip()[-500:]}")
        path = out.stdout.strip().splitlines()[-1]
    if not (Path(path) / "config.json").is_file():
        pytest.fail(f"me5-small not found at {path}")
    return path


def test_real_tiny_study_local_and_ray_agree(tmp_path, data_root, me5, monkeypatch, capsys):
    monkeypatch.setenv("XSHOT_ME5", me5)
    path = tmp_path / "real-tiny.yaml"
    path.write_text(STUDY)
    study = load_study(path)
    cells = expand(study)
    assert len(cells) == 2

    # local, through the CLI with the default (real) runner
    local_store = tmp_path / "local.sqlite"
    assert main(["run", str(path), "--store", str(local_store), "--data-root", str(data_root), "-q"]) == 0
    capsys.readouterr()
    # ray, through the API with the same default runner
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        result = run_study(cells, store, executor="ray", resources=study.resources, data_root=data_root,
                           ray_num_cpus=2, progress=False)
        ray_df = store.to_dataframe()
    assert (result.done, result.failed) == (2, 0), result.failures
    with ResultsStore(local_store) as store:
        local_df = store.to_dataframe()

    assert set(local_df.status) == {"done"}, local_df.error.tolist()
    key = ["cell", "eval_set"]
    a = local_df.sort_values(key).reset_index(drop=True)
    b = ray_df.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) == 4
    assert a[key].equals(b[key])
    assert (a.n == 12).all() and set(a.language) == {"de", "sw"} and set(a.source_language) == {"en"}
    assert a.train_s.notna().all() and a.trainable_params.notna().all() and a.fertility.notna().all()
    for col in SCORES:
        assert a[col].tolist() == pytest.approx(b[col].tolist(), abs=1e-9), col
