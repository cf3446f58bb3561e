"""The report's sentence on which code ran the cells (xshot.reporting.code_versions), on hand-written rows."""

from __future__ import annotations

import json

import pandas as pd

from xshot.reporting.code_versions import code_versions, paragraphs


def rows(*cells: tuple[str, str, str | None]) -> pd.DataFrame:
    """(setting, method, commit) per cell, two evaluation rows each (a cell counts once)."""
    out = []
    for i, (setting, method, commit) in enumerate(cells):
        v = {"xshot": "0.1.0", "lock": "abcd"} | ({"xshot_commit": commit} if commit else {})
        out += [{"cell": f"c{i}", "setting": setting, "method": method, "versions": json.dumps(v), "eval_set": e}
                for e in ("de", "sw")]
    return pd.DataFrame(out)


def test_one_version_is_one_sentence():
    (p,) = paragraphs(rows(("ner", "dualcl", "aaa"), ("ner", "finetune", "aaa")))
    assert p.text == "Every cell ran with xshot at commit aaa, lock abcd." and not p.note


def test_cells_without_a_commit_say_so():
    (p,) = paragraphs(rows(("ner", "dualcl", None)))
    assert p.text.startswith("The cells did not record the xshot commit") and "lock abcd" in p.text


def test_a_setting_compared_across_versions_is_named():
    d = rows(("ner", "dualcl", "aaa"), ("ner", "finetune", "aaa"), ("ner", "prompt", "bbb"), ("nli", "lora", "aaa"))
    versions, mixed = code_versions(d)
    assert [(v.commit, v.cells) for v in versions] == [("aaa", 3), ("bbb", 1)]
    assert [m.setting for m in mixed] == ["ner"]
    assert mixed[0].methods == {"aaa, lock abcd": ("dualcl", "finetune"), "bbb, lock abcd": ("prompt",)}
    (p,) = paragraphs(d)
    assert p.note and "2 code versions: aaa, lock abcd: 3 cell(s); bbb, lock abcd: 1 cell(s)." in p.text
    assert "Within ner (dualcl, finetune at aaa, lock abcd; prompt at bbb, lock abcd)" in p.text


def test_versions_apart_by_setting_compare_nothing_across_them():
    (p,) = paragraphs(rows(("ner", "dualcl", "aaa"), ("ner", "finetune", "aaa"), ("nli", "lora", "bbb")))
    assert p.note and "2 code versions" in p.text and "Within" not in p.text
