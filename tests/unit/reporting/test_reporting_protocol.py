"""The report's statement of how prompting ran: templates from the method configurations, dropped demonstrations
from the cells' notes (hand-written rows)."""

import json

import pandas as pd

from xshot.reporting import protocol


def _row(setting, method, notes=(), n=200, **config):
    return {"setting": setting, "method": method, "model": "/models/gemma3-270m", "task": "nli", "n": n,
            "notes": json.dumps(list(notes)), "method_config": json.dumps(config)}


def test_dropped_demonstrations_are_summed_with_the_mean_shown_over_every_input():
    rows = pd.DataFrame([
        _row("s", "icl", ["label words: entailment Yes", "200 of 200 inputs dropped demonstrations to fit max_length "
                          "128 (mean shown 1.00 of 3)"], template=None),
        _row("s", "icl", ["50 of 200 inputs dropped demonstrations to fit max_length 128 (mean shown 2.50 of 3)"],
             template=None),
        _row("s", "icl", [], template=None),  # this evaluation showed all three
        _row("old", "icl", ["10 of 100 inputs dropped demonstrations to fit max_length 64"], n=100, template=None),
        _row("s", "zero-shot", [], template=None),
    ])
    found = {d.setting: d for d in protocol.dropped_demonstrations(rows)}
    assert set(found) == {"s", "old"}
    s = found["s"]
    assert (s.inputs, s.dropped, s.max_length, s.drawn) == (600, 250, 128, 3)
    assert s.mean_shown == (1.0 * 200 + 2.5 * 200 + 3 * 200) / 600
    assert found["old"].mean_shown is None and found["old"].dropped == 10  # recorded before the mean was
    assert "250 of 600 test inputs dropped demonstrations to fit max_length 128; 2.17 of its 3" in s.sentence()
    assert "icl (s) on gemma3-270m" in s.sentence()


def test_templates_are_grouped_and_a_linear_head_has_none():
    rows = pd.DataFrame([
        _row("a", "icl", template=None, verbalizer_language="source"),
        _row("a", "prompt", template=None, verbalizer_language="source"),
        _row("b", "icl", template="xglm", verbalizer_language="target"),
        _row("a", "lora", template=None, head="linear"),
        _row("a", "finetune", learning_rate=1e-4),
    ])
    (text,) = [p.text for p in protocol.paragraphs(rows)]
    default, xglm = text.removeprefix("Templates (NLI prompting): ").split("; ")
    assert default.startswith("icl (a) on gemma3-270m, prompt (a) on gemma3-270m: xshot's default template")
    assert default.endswith("source-language label words")
    assert xglm.startswith("icl (b) on gemma3-270m: XGLM's template") and xglm.endswith("target-language label words.")
    assert "lora" not in text and "finetune" not in text
