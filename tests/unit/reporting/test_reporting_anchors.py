"""Literature anchors: a table is matched by task, dataset, source language and K, and xshot's side is the mean
over seeds of each seed's mean over the targets."""

from __future__ import annotations

import pytest

from tests.unit.reporting.reporting_data import make_results
from xshot.reporting.frame import group_results, prepare
from xshot.reporting.languages import high_resource_set
from xshot.reporting.report import build_report
from xshot.reporting.sections.anchors import anchor_table, anchors, matching, xshot_mean


def _groups(ks):
    d = prepare(make_results(ks=ks, failed=False))
    return group_results(d[d["status"] == "done"], high_resource_set())


def test_only_a_table_of_the_anchors_task_dataset_source_and_k_is_anchored():
    (k16,), (k8,) = [_groups((16,)), _groups((8,))]
    assert [a.source for a in matching(k16)] == [anchors()[0].source] and matching(k8) == []


def test_xshots_side_is_the_seed_mean_of_the_target_mean_by_hand():
    g = _groups((16,))[0]
    # finetune at K = 16 (no K = 32 bonus): de/sw/ur 0.55/0.40/0.42 with seed offsets -0.01 / +0.01
    seed1, seed2 = (0.54 + 0.39 + 0.41) / 3, (0.56 + 0.41 + 0.43) / 3
    assert xshot_mean(g, "finetune") == (pytest.approx(100 * (seed1 + seed2) / 2), 2)
    table = anchor_table(g, matching(g)[0])
    rows = {r[0].text: [c.text for c in r[1:]] for r in table.rows}
    assert rows["finetune"] == ["45.7", "2", "33.7 (fine-tuning)"]  # (0.55 + 0.40 + 0.42) / 3
    assert rows["prompt"] == ["not run", "—", "36.4 (discrete prompting)"]
    assert "dualcl" not in rows  # no published number for it


def test_a_table_running_none_of_the_anchors_methods_is_not_anchored():
    g = _groups((16,))[0]
    assert matching(g)
    g.methods = [m for m in g.methods if m not in anchors()[0].scores]
    assert matching(g) == []


def test_the_report_has_the_section(tmp_path):
    build_report(make_results(ks=(16,), failed=False), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Literature anchors" in md and "Zhao & Schütze 2021" in md
