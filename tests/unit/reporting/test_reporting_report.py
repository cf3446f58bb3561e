"""build_report end to end on hand-built results: files, self-contained HTML, small studies, CLI errors."""

import base64
from pathlib import Path
import re
import subprocess
import sys

import pandas as pd
import pytest
from reporting_data import FAILED_ERROR, make_results

from xshot.reporting import build_report

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    df = make_results()
    html_path = build_report(df, out)
    return out, df, html_path


def test_writes_all_outputs(report):
    out, df, html_path = report
    assert html_path == out / "report.html"
    for name in ("report.md", "report.html", "results.csv", "summary.csv"):
        assert (out / name).stat().st_size > 0
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert len(pngs) == 7  # one learning curve; bars, transfer scatter and score-vs-compute per K
    assert sum(n.startswith("compute-") for n in pngs) == 2
    assert sum(n.startswith("curve-") for n in pngs) == 1
    assert pd.read_csv(out / "results.csv").shape[0] == len(df)
    summary = pd.read_csv(out / "summary.csv")
    row = summary[(summary.method == "dualcl") & (summary.language == "de") & (summary.k.astype(str) == "8")]
    assert row["mean"].item() == pytest.approx(0.60)


def test_markdown_content(report):
    out, _, _ = report
    md = (out / "report.md").read_text()
    assert "| dualcl | **72.0 ± 2.8** †1 | **60.0 ± 2.8** †2 |" in md
    assert "source language en" in md and "K = 32" in md
    assert "dualcl-k32-s3" in md and FAILED_ERROR in md
    for link in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (out / link).is_file()
    assert "Spearman correlations" in md and "ρ syntactic" in md


def test_html_is_self_contained(report):
    out, _, _ = report
    html = (out / "report.html").read_text()
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) == 7
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(src|href)=\"(?!data:)", html)
    assert "<link" not in html and "<script" not in html
    assert "<strong>60.0 ± 2.8</strong>" in html


def test_small_study_is_handled(tmp_path):
    df = make_results(seeds=(1,), ks=(8,), targets=("de", "sw"), failed=False)
    build_report(df, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "58.0 ± –" in md
    assert "only one K (K = 8), so there is no learning curve" in md
    assert "n/a (n<3)" in md
    assert "No failed cells." in md
    assert not list((tmp_path / "figures").glob("curve-*.png"))


def test_rebuild_drops_stale_figures(report, tmp_path):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(report[0], out)
    assert len(list((out / "figures").glob("*.png"))) == 7
    build_report(make_results(ks=(8,), failed=False), out)
    assert sorted(p.name.split("-")[0] for p in (out / "figures").glob("*.png")) == ["bars", "compute", "transfer"]


def test_empty_results_still_give_a_report(tmp_path):
    build_report(make_results().iloc[:0], tmp_path)
    assert "No completed cells" in (tmp_path / "report.md").read_text()


def test_cli_missing_store_is_one_line_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "xshot", "report", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "results store not found" in lines[0] and "missing.sqlite" in lines[0]
    assert not (tmp_path / "out").exists()


def test_load_results_csv_and_bad_inputs(tmp_path):
    from xshot.errors import XshotError
    from xshot.reporting import load_results

    csv = tmp_path / "results.csv"
    make_results().to_csv(csv, index=False)
    df = load_results(csv)
    assert len(df) == len(make_results()) and set(df.status) == {"done", "failed"}
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(XshotError, match="cannot read results CSV"):
        load_results(tmp_path / "empty.csv")
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    with pytest.raises(XshotError, match="not a results store"):
        load_results(tmp_path / "notes.txt")
    with pytest.raises(XshotError, match="results store not found"):
        load_results(tmp_path / "missing.sqlite")


def test_choices_made_on_the_shots_are_reported(tmp_path):
    import json

    df = make_results(seeds=(1,), ks=(8,), targets=("de",), failed=False)
    chosen = [{"what": "label_words", "chosen": {"entailment": "Yes", "neutral": "Also", "contradiction": "Never"},
               "how": "LM-BFF search", "candidates": [{"name": "Yes/Also/Never", "fold_scores": [0.5, 0.75]},
                                                      {"name": "Right/Maybe/No", "fold_scores": [0.0, 0.5], "diverged": 1},
                                                      {"name": "Yes/So/No", "fold_scores": [0.25], "dropped_after": 1}]}]
    df["choices"] = [json.dumps(chosen) if m == "dualcl" else "[]" for m in df["method"]]
    build_report(df, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Choices made from the shots" in md
    assert "| dualcl | en-fewshot | 1 | label_words | entailment: Yes; neutral: Also; contradiction: Never | " \
           "Yes/Also/Never 0.625, Right/Maybe/No 0.250 (diverged on 1 of 2), Yes/So/No 0.250 (dropped after fold 1) |" in md
    build_report(make_results(seeds=(1,), ks=(8,), targets=("de",), failed=False), tmp_path / "none")
    assert "No method chose anything from its shots." in (tmp_path / "none" / "report.md").read_text()


@pytest.mark.parametrize("csv", sorted(str(p.relative_to(REPO)) for folder in ("examples", "results")
                                       for p in (REPO / folder).rglob("*.csv")
                                       if not (p.parent / "report.md").exists()))  # a report's own copies
def test_every_committed_results_file_rebuilds_its_report(csv, tmp_path):
    from xshot.reporting.frame import load_results

    df = load_results(REPO / csv)
    build_report(df, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert f"{df['cell'].nunique()} cell(s)" in md and "## Findings" in md


def test_main_and_findings_tables_are_exported_as_booktabs_latex(report):
    from xshot.reporting.document import TableCell, Document, Section, Table, latex_escape, to_latex

    out, _, _ = report
    tex = (out / "tables.tex").read_text()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\bottomrule") >= 3  # findings + a main table per K
    assert r"\toprule" in tex and r"\midrule" in tex and r"dualcl $-$ finetune" in tex
    assert r"\textbf{72.0 $\pm$ 2.8}$^{\dagger 1}$" in tex
    assert latex_escape("50% of x_1 & {y} #2 ~ ^") == r"50\% of x\_1 \& \{y\} \#2 \textasciitilde{} \textasciicircum{}"
    doc = Document("t", sections=[Section("s", [Table(["a", "b"], [[TableCell("x"), TableCell("1")]], numeric=[False, True],
                                                      css_class="main"), Table(["c"], [[TableCell("skip")]])])])
    assert "{lr}" in to_latex(doc) and "skip" not in to_latex(doc)


def test_a_search_space_gets_a_sensitivity_figure(tmp_path):
    import json

    df = make_results(seeds=(1, 2), ks=(8,), targets=("de",), failed=False)
    def choice(seed):
        return json.dumps([{"what": "hyperparameters", "chosen": {"learning_rate": 1e-4}, "how": "4-fold cv",
                            "candidates": [{"name": "learning_rate=1e-05", "fold_scores": [0.3, 0.4]},
                                           {"name": "learning_rate=0.0001", "fold_scores": [0.5, 0.5 + seed / 100]}]}])
    df["choices"] = [choice(s) for s in df["seed"]]
    build_report(df, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "learning_rate: 0.0001" in md and "learning_rate=1e-05 0.350" in md
    figures = sorted(p.name for p in (tmp_path / "figures").glob("sensitivity-*.png"))
    assert len(figures) == 1 and f"figures/{figures[0]}" in md


@pytest.mark.parametrize("results, committed, heading", [
    ("decoders/results.csv", "decoders/table.md", 2),  # committed without its model heading
    ("faithful/results/xnli-prompting.csv", "faithful/table-xnli.md", 0),
    ("faithful/results/ner-masakhaner.csv", "faithful/table-ner.md", 0),
    ("fair/results/masakhaner-cv.csv", "fair/table-masakhaner.md", 0),
    ("fair/results/xnli-k16-gemma-cv.csv", "fair/table-xnli.md", 0),
    ("fair/results/xnli-k16-gemma-hand.csv", "fair/table-xnli-hand.md", 0),
])
def test_the_closing_note_table_script_reproduces_its_committed_tables(results, committed, heading):
    import importlib.util

    spec = importlib.util.spec_from_file_location("table", REPO / "examples" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.table(str(REPO / "results" / results)).splitlines()
    lines = (REPO / "results" / committed).read_text().splitlines()
    assert text[heading:] == lines


def test_the_cv_against_hand_script_reproduces_its_committed_table():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cv_vs_hand", REPO / "examples" / "fair" / "cv_vs_hand.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fair = REPO / "results" / "fair"
    text = module.main(str(fair / "results" / "xnli-k16-gemma-cv.csv"), str(fair / "results" / "xnli-k16-gemma-hand.csv"))
    assert text.splitlines() == (fair / "cv-vs-hand-xnli.md").read_text().splitlines()
