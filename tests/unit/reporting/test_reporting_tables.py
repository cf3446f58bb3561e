"""Main table, transfer analysis and cost table on hand-built results (see reporting_data.py)."""

import math

import pandas as pd

import pytest
from reporting_data import make_results

from xshot.errors import XshotError
from xshot.reporting.languages import high_resource_set
from xshot.reporting import build_report
from xshot.reporting.frame import group_results, prepare
from xshot.reporting.sections.cost import cost_table
from xshot.reporting.sections.main import main_table as render, summarize_group, summary_rows


def main_table(g):
    """The rendered table and summary.csv's rows of a group (as build_report computes them)."""
    s = summarize_group(g)
    return render(s), summary_rows(s)
from xshot.reporting.sections.transfer import transfer_analysis


def groups_of(df, high=None):
    d = prepare(df)
    done = d[(d["status"] == "done") & d["score"].notna()]
    return group_results(done, high_resource_set(high)), done


def by_method(table):
    return {row[0].text: row for row in table.rows}


def test_one_table_per_task_model_k_with_source_and_targets():
    groups, _ = groups_of(make_results())
    assert [(g.task, g.k_label) for g in groups] == [("nli", "8"), ("nli", "32")]
    table, _ = main_table(groups[0])
    assert table.columns == ["method", "en (source)", "de", "sw", "ur", "avg (targets)"]
    assert [r[0].text for r in table.rows] == ["finetune", "dualcl"]  # baseline first
    assert "K = 8" in table.caption and "source language en" in table.caption and "2 seed(s)" in table.caption


def test_mean_std_over_seeds():
    groups, _ = groups_of(make_results())
    rows = by_method(main_table(groups[0])[0])
    # dualcl de: 0.58, 0.62 -> 60.0 +- 2.8; finetune de: 0.54, 0.56 -> 55.0 +- 1.4
    assert rows["dualcl"][2].text == "60.0 ± 2.8"
    assert rows["finetune"][2].text == "55.0 ± 1.4"
    # average over targets per seed: finetune (54+39+41)/3, (56+41+43)/3 -> 45.7 +- 1.4
    assert rows["finetune"][5].text == "45.7 ± 1.4"
    assert rows["dualcl"][5].text == "51.0 ± 2.8"
    rows32 = by_method(main_table(groups[1])[0])
    assert rows32["dualcl"][3].text == "53.0 ± 2.8"  # sw at K=32: 0.48 + 0.05


def test_best_marked_bold_and_non_significance_footnoted():
    groups, _ = groups_of(make_results())
    table, summary = main_table(groups[0])
    rows = by_method(table)
    assert all(c.bold for c in rows["dualcl"][1:]) and not any(c.bold for c in rows["finetune"][1:])
    assert rows["dualcl"][2].mark == "†2"
    note = next(n for n in table.notes if n.startswith("Not significant"))
    assert "†2 de: dualcl vs finetune, Δ = +5.0, p = 0.500, n = 2;" in note
    assert any("smallest attainable p is 0.500" in n for n in table.notes)
    row = next(r for r in summary if r["method"] == "dualcl" and r["language"] == "de")
    assert (
        row["n_seeds"] == 2 and row["mean"] == pytest.approx(0.60) and row["std"] == pytest.approx(0.0282843, abs=1e-6)
    )


def test_significant_lead_has_no_dagger():
    groups, _ = groups_of(make_results(seeds=(1, 2, 3, 4, 5, 6)))
    table, _ = main_table(groups[0])
    rows = by_method(table)
    assert rows["dualcl"][2].bold and rows["dualcl"][2].mark == ""  # p = 2/64 < 0.05
    assert not any(n.startswith("Not significant") for n in table.notes)


def test_runner_up_ahead_on_a_seed_gets_the_real_p_value():
    df = make_results(seeds=(1, 2, 3, 4, 5, 6))
    # finetune beats dualcl on de for seed 3 only: differences +, +, -, +, +, + -> not all one sign.
    df.loc[(df.method == "finetune") & (df.language == "de") & (df.seed == 3) & (df.k == 8), "score"] = 0.99
    groups, _ = groups_of(df)
    table, _ = main_table(groups[0])
    rows = by_method(table)
    assert rows["finetune"][2].bold  # 0.99 lifts the finetune mean above dualcl on de
    assert rows["finetune"][2].mark.startswith("†")


def test_one_seed_shows_dash_for_std():
    groups, _ = groups_of(make_results(seeds=(1,)))
    table, _ = main_table(groups[0])
    assert by_method(table)["dualcl"][2].text == "58.0 ± –"
    assert any("One seed per cell" in n for n in table.notes)


def _fake_distances(source, targets):
    syn = {"de": 0.1, "sw": 0.3, "ur": 0.2}
    return {t: {"syntactic": syn[t], "genetic": 1.0, "geographic": syn[t], "phonological": 0.5} for t in targets}


def test_transfer_gaps_and_spearman_hand_computed():
    groups, done = groups_of(make_results())
    tr = transfer_analysis(groups[0], done, distance_fn=_fake_distances)
    assert tr.reference == {"finetune": "source-language evaluation", "dualcl": "source-language evaluation"}
    # finetune: en 70 - (de 55, sw 40, ur 42); dualcl: en 72 - (60, 48, 45)
    assert tr.gaps["finetune"] == pytest.approx({"de": 0.15, "sw": 0.30, "ur": 0.28})
    assert tr.gaps["dualcl"] == pytest.approx({"de": 0.12, "sw": 0.24, "ur": 0.27})
    # syntactic ranks (de, sw, ur) = (1, 3, 2); finetune gap ranks (1, 3, 2): rho = 1, exact p = 2/6.
    c = tr.correlations[("gap", "finetune", "syntactic")]
    assert c.rho == pytest.approx(1.0) and c.p_value == pytest.approx(1 / 3)
    # dualcl gap ranks (1, 2, 3): sum d^2 = 2, rho = 1 - 12/24 = 0.5.
    assert tr.correlations[("gap", "dualcl", "syntactic")].rho == pytest.approx(0.5)
    # fertility de 1.5, sw 1.9, ur 1.7 -> same ranks as the syntactic distance.
    assert tr.predictors["sw"]["fertility"] == pytest.approx(1.9)
    assert tr.correlations[("gap", "finetune", "fertility")].rho == pytest.approx(1.0)
    # gain of dualcl over finetune: de 5, sw 8, ur 3 -> ranks (2, 3, 1) vs (1, 3, 2): rho = 0.5.
    assert tr.gains["dualcl"] == pytest.approx({"de": 0.05, "sw": 0.08, "ur": 0.03})
    assert tr.correlations[("gain over finetune", "dualcl", "syntactic")].rho == pytest.approx(0.5)
    assert tr.correlations[("gap", "dualcl", "genetic")].reason == "constant"


def test_transfer_without_source_language_uses_a_stated_proxy():
    groups, done = groups_of(make_results(source_eval=False))
    tr = transfer_analysis(groups[0], done, distance_fn=_fake_distances)
    assert tr.reference["finetune"].startswith("proxy: best target language")
    assert tr.gaps["finetune"]["de"] == pytest.approx(0.0) and tr.gaps["finetune"]["sw"] == pytest.approx(0.15)
    assert any("proxy" in n for n in tr.notes)
    # Source evaluated at K=8 only: K=32 borrows it and says so.
    df = make_results()
    df = df[~((df.k == 32) & (df.language == "en"))]
    groups, done = groups_of(df)
    tr = transfer_analysis(groups[1], done, distance_fn=_fake_distances)
    assert tr.reference["dualcl"] == "proxy: source-language evaluation at K = 8"
    assert tr.gaps["dualcl"]["de"] == pytest.approx(0.72 - 0.65)


def test_transfer_with_two_languages_has_no_correlation():
    groups, done = groups_of(make_results(targets=("de", "sw")))
    tr = transfer_analysis(groups[0], done, distance_fn=_fake_distances)
    c = tr.correlations[("gap", "dualcl", "syntactic")]
    assert math.isnan(c.rho) and c.reason == "n<3"


def test_cost_table_medians_over_cells():
    _, done = groups_of(make_results())
    table = cost_table(done)
    rows = {r[2].text: {col: cell.text for col, cell in zip(table.columns, r)} for r in table.rows}
    assert rows["finetune"]["cells"] == "4"
    assert rows["finetune"]["trainable params"] == "117.00M"
    assert rows["finetune"]["train s"] == "15.0"  # median of 10, 10, 20, 20
    assert rows["dualcl"]["train s"] == "22.5"
    assert rows["dualcl"]["peak memory MB"] == "1,200"
    assert rows["dualcl"]["eval s (per eval set)"] == "3.0"


def test_cost_table_says_where_its_timings_were_measured():
    results = make_results(failed=False)
    assert cost_table(groups_of(results)[1]).notes == ["Evaluation time is the median over (cell, evaluation set) rows."]
    results["processor"], results["threads"] = "AMD EPYC (AVX2)", 2  # rows of a store that records them
    assert cost_table(groups_of(results)[1]).notes[1] == "Timings measured on AMD EPYC (AVX2), 2 threads (8 cells)."
    gpu = results["cell"].str.startswith("dualcl-k32")
    results.loc[gpu, "processor"], results.loc[gpu, "threads"] = "NVIDIA H200", None
    note = cost_table(groups_of(results)[1]).notes[1]
    assert note == ("Timings come from 2 machines or thread counts, not comparable across them: "
                    "AMD EPYC (AVX2), 2 threads (6 cells); NVIDIA H200 (2 cells).")


def test_low_resource_override_and_study_filter(tmp_path):
    groups, _ = groups_of(make_results(), high=["en", "sw"])
    lows = {c.language: c.low_resource for c in groups[0].columns}
    assert lows == {"en": False, "de": True, "sw": False, "ur": True}
    with pytest.raises(XshotError, match="no results for study 'other'"):
        build_report(make_results(), tmp_path / "r", study="other")


def test_missing_columns_and_bad_study_file(tmp_path):
    with pytest.raises(XshotError, match="lack required column"):
        build_report(make_results().drop(columns=["seed"]), tmp_path / "r")
    with pytest.raises(XshotError) as err:
        build_report(make_results(), tmp_path / "r", study=tmp_path / "missing.yaml")
    assert "missing.yaml" in str(err.value)


def test_settings_with_target_shots_get_their_own_tables():
    import pandas as pd

    base = make_results(failed=False)
    target = base.copy()
    target["setting"] = "target-fewshot"
    target["cell"] = "t-" + target["cell"]
    target["target_train"] = "xnli:" + target["language"] + ":dev"
    target["target_k"] = 4
    target["score"] = target["score"] + 0.1
    groups, _ = groups_of(pd.concat([base, target], ignore_index=True))
    assert len(groups) == 4
    titled = [g.title() for g in groups]
    assert "NLI · me5-small · target-fewshot · xnli:en:dev (en) · + target K = 4 · K = 8" in titled
    table, _ = main_table(next(g for g in groups if g.target_k == "4" and g.k_label == "8"))
    assert by_method(table)["dualcl"][2].text == "70.0 ± 2.8"  # not averaged with the source-only cells
    assert "then K = 4 target-language shots" in table.caption


def test_mixed_precisions_get_their_own_tables_and_a_warning(tmp_path):
    bf16, fp32 = make_results(ks=(8,), failed=False), make_results(ks=(8,), failed=False)
    bf16["precision"], fp32["precision"] = "bf16", "torch.float32"  # an old store wrote the dtype
    fp32["cell"] = fp32["cell"] + "-fp32"
    fp32.loc[fp32["method"] == "dualcl", "score"] -= 0.1
    groups, _ = groups_of(pd.concat([bf16, fp32]))
    assert [g.precision for g in groups] == ["bf16", "fp32"]  # never averaged together
    means = {g.precision: by_method(main_table(g)[0])["dualcl"][-1].text for g in groups}
    assert means["bf16"] != means["fp32"]
    build_report(pd.concat([bf16, fp32]), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "These results mix precisions (bf16, fp32)" in md and "· bf16 · K = 8" in md
    groups, _ = groups_of(bf16)  # one precision: tables as before, no warning
    assert [g.precision for g in groups] == [""]
