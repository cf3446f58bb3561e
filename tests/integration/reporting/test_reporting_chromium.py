"""`xshot report STORE --study STUDY.yaml --out DIR` on a real SQLite results store, then the HTML
rendered by headless Chromium.

Needs Debian's chromium (`apt-get install -y chromium`); the test fails, not skips, without it.
The rendered report and its screenshot stay under test-output/reporting/ (gitignored).
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "reporting"))
from reporting_data import make_results  # noqa: E402

pytestmark = pytest.mark.integration  # needs headless Chromium, which .ci/run installs

ROOT = Path(__file__).resolve().parents[3]
OUTPUT = ROOT / "test-output" / "reporting"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
STUDY = """\
name: demo
task: nli
models: [me5-small]
methods: [finetune, dualcl]
seeds: [1, 2]
languages: [en, de, sw, ur]
settings:
  - name: en-fewshot
    train: xnli:en:dev
    k: [8, 32]
    eval: ["xnli:{lang}:test"]
"""


def chromium() -> str:
    path = os.environ.get("XSHOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("headless Chromium is required for this test: apt-get update && apt-get install -y chromium")
    return path


def run_chromium(args, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def write_store(path: Path, study_file: Path) -> None:
    """The hand-built results as a real results store, cells keyed as the study's grid keys them."""
    from xshot.studies.grid import expand
    from xshot.studies.spec import load_study
    from xshot.studies.store import COLUMNS, ResultsStore

    keys = {(c.config.method, c.config.k, c.config.seed): c.key for c in expand(load_study(study_file))}
    df = make_results()
    df["cell"] = [keys.get((m, k, s), cell) for m, k, s, cell in zip(df.method, df.k, df.seed, df.cell)]
    rows: dict[str, list[dict]] = {}
    for rec in df.to_dict("records"):
        rec = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        if rec["status"] == "done":
            rec["scores"] = json.dumps({"accuracy": rec["score_accuracy"], "macro_f1": rec["score_macro_f1"]})
            rec["ci"] = json.dumps({"accuracy": [rec["ci_low"], rec["ci_high"]]})
        else:
            rec["eval_set"] = ""
        rows.setdefault(rec["cell"], []).append({k: v for k, v in rec.items() if k in COLUMNS})
    with ResultsStore(path) as store:
        for cell, cell_rows in rows.items():
            store.write_rows(cell, cell_rows)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    study = tmp / "demo.yaml"
    study.write_text(STUDY)
    store = tmp / "results.sqlite"
    write_store(store, study)
    out = OUTPUT / "report"
    if out.exists():
        shutil.rmtree(out)
    proc = subprocess.run(
        [sys.executable, "-m", "xshot", "report", str(store), "--study", str(study), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "report.html" in proc.stdout
    url = (out / "report.html").resolve().as_uri()
    dom = run_chromium(["--dump-dom", url], tmp / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = OUTPUT / "report.png"
    shot.unlink(missing_ok=True)
    run = run_chromium([f"--screenshot={shot}", "--window-size=1280,4000", url], tmp / "profile-shot")
    assert run.returncode == 0, run.stderr[-2000:]
    return out, dom.stdout, shot


def test_report_from_store_covers_the_study(rendered):
    out, _, _ = rendered
    md = (out / "report.md").read_text()
    assert "# Study report: demo" in md
    # 8 planned cells all done; the failed seed-3 cell is not in the grid
    assert "Study plan: 8 cell(s); 8 done, 0 failed, 0 not in the results yet." in md
    assert "1 cell(s) in the results are not in the current plan" in md
    assert "setting en-fewshot" in md


def test_dom_has_the_tables_and_images(rendered):
    out, dom, _ = rendered
    # per K (8, 32): a findings table, a main table, a gap table and a correlation table; cost, failures
    assert len(re.findall(r"<table[\s>]", dom)) == 10
    imgs = re.findall(r"<img [^>]*src=\"([^\"]*)\"", dom)
    assert len(imgs) == len(list((out / "figures").glob("*.png"))) == 7  # + score against compute per K
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    assert "<strong>60.0 ± 2.8</strong>" in dom
    assert "dualcl-k32-s3" in dom and "CUDA out of memory" in dom


def test_screenshot_shows_the_figures(rendered):
    import matplotlib.image as mpimg

    _, _, shot = rendered
    assert shot.is_file()
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (4000, 1280)
    px = (img * 255).round()

    def near(rgb, tol=12):
        return int((np.abs(px - np.array(rgb)).max(axis=-1) <= tol).sum())

    # The method colours only occur inside the embedded figures (the findings come first; curve and bars
    # follow within the first 4000 px).
    assert near((31, 119, 180)) > 2000  # finetune blue
    assert near((255, 127, 14)) > 2000  # dualcl orange
