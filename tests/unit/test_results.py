"""The typed run result: what metrics.json holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xshot.errors import XshotError
from xshot.results import Evaluation, RunResult


def _result(**changes) -> RunResult:
    data = {
        "key": "abc", "config": {"method": "lora", "k": 4}, "task": "ner",
        "evaluations": {"wikiann:de": {"spec": "wikiann:de", "language": "de", "n": 10,
                                       "scores": {"precision": 0.5, "recall": 0.25, "f1": np.float64(1 / 3),
                                                  "per_type": {"PER": {"f1": 0.4, "support": np.int64(3)}}},
                                       "ci": {"f1": [0.1, 0.6]}, "fertility": 1.5, "eval_s": 0.2,
                                       "demonstrations_dropped": 2}},
        "time": {"train_s": 1.0, "eval_s": 0.2, "load_s": 0.1},
    }
    data.update(changes)
    return RunResult.parse(data)


def test_the_primary_metric_is_the_task_s_and_is_written_out():
    result = _result()
    assert result.primary_metric == "f1"
    assert result.primary_scores() == {"wikiann:de": pytest.approx(1 / 3)}
    assert RunResult.parse(_result(task="nli", evaluations={}).to_json()).primary_metric == "accuracy"
    assert result.to_json()["primary_metric"] == "f1"  # for readers outside xshot


def test_a_result_round_trips_through_metrics_json(tmp_path):
    result = _result()
    result.save(tmp_path / "metrics.json")
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text)["evaluations"]["wikiann:de"]["scores"]["per_type"]["PER"]["support"] == 3  # numpy gone
    again = RunResult.load(tmp_path / "metrics.json")
    assert again == result
    ev = again.evaluations["wikiann:de"]
    assert ev.ci["f1"] == (0.1, 0.6) and ev.extras() == {"demonstrations_dropped": 2}
    assert ev.flat_scores() == {"precision": 0.5, "recall": 0.25, "f1": pytest.approx(1 / 3)}  # no nested table


def test_a_bad_result_is_one_line_naming_the_field(tmp_path):
    with pytest.raises(XshotError, match=r"runner returned an invalid run result: evaluations\.x\.scores: Field required"):
        _result(evaluations={"x": {"spec": "x"}})
    (tmp_path / "metrics.json").write_text("{\n  \"key\": 1,\n")
    with pytest.raises(XshotError, match=r"metrics.json:3: not JSON"):
        RunResult.load(tmp_path / "metrics.json")


def test_an_evaluation_score_ignores_what_is_not_a_number():
    ev = Evaluation(spec="s", scores={"f1": 0.5, "per_type": {}, "flag": True})
    assert ev.score("f1") == 0.5 and ev.score("per_type") is None and ev.score("flag") is None and ev.score("x") is None
