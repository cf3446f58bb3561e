"""Pre-registration: the study file's hash is recorded with every cell and the report checks the analysis."""

from __future__ import annotations

import pytest

from xshot.cli import main
from xshot.errors import XshotError
from xshot.reporting import load_results
from xshot.reporting.preregistration import check
from xshot.studies.spec import load_study, parse_study
from xshot.studies.store import ResultsStore
from study_fixtures import TINY

PREREG = TINY + """\
comparisons: [[lora, finetune]]
preregistration:
  question: Does LoRA beat fine-tuning on the tiny study?
  detect: 3
  hyperparameters: fixed-from-literature
  hyperparameters_note: the defaults
  stopping: every cell of the grid
"""


def _run(study, store, runner):
    assert main(["run", str(study), "--store", str(store), "--runner", runner, "-q"]) == 0


def test_every_row_records_the_study_files_hash(tmp_path, make_study, runner):
    study = make_study(PREREG)
    _run(study, tmp_path / "r.sqlite", runner)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        hashes = set(store.to_dataframe()["study_sha256"])
    assert hashes == {load_study(study).sha256} and len(next(iter(hashes))) == 64


def test_unchanged_complete_study_is_the_preregistered_analysis(tmp_path, make_study, runner):
    study = make_study(PREREG)
    _run(study, tmp_path / "r.sqlite", runner)
    result = check(load_study(study), load_results(tmp_path / "r.sqlite"))
    assert result.deviations == [] and result.is_preregistered_analysis
    report = tmp_path / "rep"
    assert main(["report", str(tmp_path / "r.sqlite"), "--study", str(study), "--out", str(report)]) == 0
    text = (report / "report.md").read_text()
    assert "This is the pre-registered analysis" in text and "Does LoRA beat fine-tuning" in text
    answer = (report / "answer.md").read_text().splitlines()  # the findings' sentences, nothing more
    assert answer[0] == "## What tiny found" and answer[2].startswith("The pre-registered analysis (study file")
    bullets = [line for line in answer if line.startswith("- ")]
    assert len(bullets) == 2 and all("LoRA − fine-tuning" in b and "cannot reach significance" in b for b in bullets)
    assert "0 of 2 comparison(s) significant after Holm's adjustment" in "\n".join(answer)


def test_a_file_edited_after_the_first_cell_is_a_deviation(tmp_path, make_study, runner):
    study = make_study(PREREG)
    _run(study, tmp_path / "r.sqlite", runner)
    study.write_text(PREREG.replace("detect: 3", "detect: 5"), encoding="utf-8")
    result = check(load_study(study), load_results(tmp_path / "r.sqlite"))
    assert not result.is_preregistered_analysis
    assert any("changed after the first cell" in d for d in result.deviations)


def test_cells_run_under_two_versions_and_an_incomplete_grid_are_deviations(tmp_path, make_study, runner):
    study = make_study(PREREG.replace("seeds: [1, 2]", "seeds: [1]"))
    _run(study, tmp_path / "r.sqlite", runner)
    study.write_text(PREREG.replace("seeds: [1, 2]", "seeds: [1, 2, 3]"), encoding="utf-8")
    with ResultsStore(tmp_path / "r.sqlite") as store:  # run only part of the new grid: 4 of its 8 new cells
        from xshot.studies.execute import run_study
        from xshot.studies.grid import expand

        cells = [c for c in expand(load_study(study)) if c.config.seed == 2]
        run_study(cells, store, runner=runner, progress=False)
    result = check(load_study(study), load_results(tmp_path / "r.sqlite"))
    text = " | ".join(result.deviations)
    assert "4 cell(s) ran under another version" in text and "changed after the first cell" in text
    assert "not complete (8 of 12 cells done)" in text


def test_declared_cross_validation_without_selection_is_a_deviation(tmp_path, make_study, runner):
    study = make_study(PREREG.replace("fixed-from-literature", "cross-validation"))
    _run(study, tmp_path / "r.sqlite", runner)
    result = check(load_study(study), load_results(tmp_path / "r.sqlite"))
    assert result.deviations == ["8 cell(s) chose no hyperparameters on their shots, though cross-validation was "
                                 "declared"]


def test_a_study_without_registration_is_called_exploratory(tmp_path, make_study, runner):
    study = make_study()
    _run(study, tmp_path / "r.sqlite", runner)
    report = tmp_path / "rep"
    assert main(["report", str(tmp_path / "r.sqlite"), "--study", str(study), "--out", str(report)]) == 0
    assert "was not pre-registered" in (report / "report.md").read_text()
    assert check(load_study(study), load_results(tmp_path / "r.sqlite")) is None


def test_registration_needs_the_comparisons_it_adjusts_over():
    text = PREREG.replace("comparisons: [[lora, finetune]]\n", "")
    with pytest.raises(XshotError, match="names its comparisons"):
        parse_study(text, "s.yaml")


def test_registration_fields_are_checked_with_their_line():
    with pytest.raises(XshotError) as err:
        parse_study(PREREG.replace("fixed-from-literature", "after-looking"), "s.yaml")
    assert "preregistration.hyperparameters" in err.value.message and err.value.line == PREREG.count("\n", 0, PREREG.index("  hyperparameters:")) + 1


def test_an_addendum_reuses_another_studys_cells_and_its_report_says_so(tmp_path, make_study, runner, capsys):
    first = make_study(PREREG)
    _run(first, tmp_path / "first.sqlite", runner)
    addendum = make_study(PREREG.replace("name: tiny", "name: addendum").replace("rank: 4", "rank: 8")
                          .replace("name: src", "name: source-shots"), "add.yaml")
    store = tmp_path / "add.sqlite"
    capsys.readouterr()
    assert main(["run", str(addendum), "--store", str(store), "--runner", runner, "-q",
                 "--reuse", str(tmp_path / "first.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "reused 4 finished cell(s)" in out and "4 already done, 4 to run" in out  # finetune reused, LoRA runs
    with ResultsStore(store) as s:
        rows = s.to_dataframe()
    studies = rows.drop_duplicates("cell").groupby("study")["method"].agg(set).to_dict()
    assert studies == {"tiny": {"finetune"}, "addendum": {"lora"}}  # reused rows keep their study
    assert set(rows["setting"]) == {"source-shots"}  # and take the addendum's setting name
    result = check(load_study(addendum), load_results(store))
    assert result.reused == {"tiny": 4} and result.is_preregistered_analysis  # the registration: its own cells
    report = tmp_path / "rep"
    assert main(["report", str(store), "--study", str(addendum), "--out", str(report)]) == 0
    text = (report / "report.md").read_text()
    assert "Reused, not re-run: 4 cell(s) recorded by study tiny" in text and "8 cell(s): 8 completed" in text
    assert main(["run", str(addendum), "--store", str(store), "--runner", runner, "-q",
                 "--reuse", str(tmp_path / "nothing.sqlite")]) == 2
    assert "--reuse: results store not found" in capsys.readouterr().err
