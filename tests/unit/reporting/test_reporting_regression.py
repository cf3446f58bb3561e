"""The transfer-gap regression, by hand, and the CC-100 table."""

import math

import numpy as np
import pandas as pd
import pytest

from xshot.reporting.frame import Column, Group
from xshot.reporting.languages import cc100_tokens
from xshot.reporting.sections.transfer import TransferResult, gap_regression


def test_cc100_tokens_come_from_the_xlmr_table():
    assert cc100_tokens("sw") == 275 and cc100_tokens("swa") == 275 and cc100_tokens("hau") == 56
    assert cc100_tokens("zh") == 259 + 176  # Simplified + Traditional
    assert cc100_tokens("yor") == 0  # not in CC-100


def test_gap_regression_recovers_a_known_linear_relation():
    langs = ["de", "sw", "ur", "zh", "ar", "hi", "tr"]
    iso = {"de": "deu", "sw": "swh", "ur": "urd", "zh": "zho", "ar": "ara", "hi": "hin", "tr": "tur"}
    syn = dict(zip(langs, [0.3, 0.6, 0.5, 0.7, 0.55, 0.45, 0.65]))
    fert = dict(zip(langs, [1.4, 1.9, 1.6, 1.2, 1.7, 1.5, 1.8]))
    cols = [Column((l, f"x:{l}"), l, l, iso[l], False, l != "de") for l in langs]
    g = Group(task="nli", model="m", setting="", train="x", source="en", k_label="8", k_num=8.0, target_k="",
              precision="", metric="accuracy", rows=pd.DataFrame(), methods=["a", "b"], columns=cols)
    # gap (points) = 2 + 10 syn + 3 fert - 1.5 log10(1 + tokens); method b's gap 1 point above a's, a's 1 below
    truth = {l: 2 + 10 * syn[l] + 3 * fert[l] - 1.5 * math.log10(1 + cc100_tokens(iso[l])) for l in langs}
    gaps = {"a": {l: (truth[l] - 1) / 100 for l in langs}, "b": {l: (truth[l] + 1) / 100 for l in langs}}
    predictors = {l: {"syntactic": syn[l], "fertility": fert[l]} for l in langs}
    reg = gap_regression(g, TransferResult(gaps, {}, predictors, {}, {}, []))
    assert reg.n == 7 and reg.r2 == pytest.approx(1.0)
    for name, value in (("intercept", 2), ("syntactic", 10), ("fertility", 3), ("log10 CC-100 tokens", -1.5)):
        assert reg.coefficients[name][0] == pytest.approx(value, abs=1e-6)
    predictors["zh"]["fertility"] = math.nan  # a language without fertility is left out, and said so
    reg = gap_regression(g, TransferResult(gaps, {}, predictors, {}, {}, []))
    assert reg.dropped == ["zh"] and reg.n == 6
    assert gap_regression(Group(**{**g.__dict__, "columns": cols[:4], "scores": {}}),
                          TransferResult(gaps, {}, predictors, {}, {}, [])) is None  # too few languages
    assert np.isfinite(reg.coefficients["syntactic"][1])
