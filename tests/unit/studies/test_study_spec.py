"""Study files: grid expansion, overrides, ${ENV} expansion and up-front validation errors."""

from __future__ import annotations

import pytest

from xshot.cli import main
from xshot.errors import XshotError
from xshot.studies.grid import expand
from xshot.studies.spec import load_study, parse_study
from xshot.yamlfile import expand_env
from xshot.training.config import RunConfig

from study_fixtures import TINY


def test_tiny_grid_count_order_and_content(make_study):
    cells = expand(load_study(make_study()))
    # 1 model x 2 K x 2 methods x 2 seeds
    assert len(cells) == 8
    assert len({c.key for c in cells}) == 8
    first = cells[0].config
    assert isinstance(first, RunConfig)
    assert (first.task, first.model, first.method, first.train, first.k, first.seed) == (
        "nli", "tiny-model", "finetune", "xnli:en:dev", 4, 1)
    assert first.eval == ["xnli:de:test", "xnli:sw:test"]
    assert (first.max_steps, first.eval_limit, first.batch_size) == (5, 50, 4)
    assert [(c.config.k, c.config.method, c.config.seed) for c in cells] == [
        (k, m, s) for k in (4, 16) for m in ("finetune", "lora") for s in (1, 2)]
    assert [c.index for c in cells] == list(range(8))
    assert all(c.study == "tiny" and c.setting == "src" for c in cells)


def test_method_overrides_merge_over_defaults_and_setting(make_study):
    text = """\
name: ov
task: nli
models: [m]
methods:
  - finetune
  - {name: lora, learning_rate: 0.001, max_steps: 7, options: {dropout: 0.4}}
defaults: {max_steps: 5, learning_rate: 0.1, options: {warmup_ratio: 0.5, dropout: 0.2}}
settings:
  - name: s
    train: xnli:en:dev
    k: 4
    learning_rate: 0.01
    options: {weight_decay: 0.2}
    eval: [xnli:de:test]
"""
    cells = {c.config.method: c.config for c in expand(load_study(make_study(text)))}
    assert cells["finetune"].learning_rate == 0.01  # setting beats defaults
    assert cells["finetune"].max_steps == 5
    assert cells["finetune"].options == {"warmup_ratio": 0.5, "dropout": 0.2, "weight_decay": 0.2}
    assert cells["lora"].learning_rate == 0.001  # method beats setting
    assert cells["lora"].max_steps == 7
    assert cells["lora"].options == {"warmup_ratio": 0.5, "dropout": 0.4, "weight_decay": 0.2}


def test_settings_full_data_target_fewshot_and_per_language(make_study):
    text = """\
name: settings
task: ner
models: [m]
methods: [finetune, dualcl]
seeds: [1, 2, 3]
languages: [hau, swa, yor]
settings:
  - name: full
    train: wikiann:en:train
    k: null
    seeds: [1]
    methods: [finetune]
    eval: ["masakhaner2:{lang}:test"]
  - name: target
    train: wikiann:en:train
    k: [10]
    target_train: "masakhaner2:{lang}:train"
    target_k: [5, 20]
    languages: [swa, yor]
    eval: ["masakhaner2:{lang}:test"]
"""
    cells = expand(load_study(make_study(text)))
    full = [c for c in cells if c.setting == "full"]
    target = [c for c in cells if c.setting == "target"]
    assert len(full) == 1
    assert full[0].config.k is None
    assert full[0].config.eval == ["masakhaner2:hau:test", "masakhaner2:swa:test", "masakhaner2:yor:test"]
    # 2 languages x 2 target K x 2 methods x 3 seeds
    assert len(target) == 24
    swa = [c for c in target if c.language == "swa"]
    assert len(swa) == 12
    assert {c.config.target_train for c in swa} == {"masakhaner2:swa:train"}
    assert {c.config.target_k for c in swa} == {5, 20}
    assert all(c.config.eval == ["masakhaner2:swa:test"] and c.config.k == 10 for c in swa)


def test_model_override_and_duplicate_cells(make_study):
    study = load_study(make_study())
    cells = expand(study, models=["/models/a", "/models/b"])
    assert len(cells) == 16
    assert {c.config.model for c in cells} == {"/models/a", "/models/b"}
    dup = TINY.replace("k: [4, 16]", "k: [4, 4]")
    assert len(expand(load_study(make_study(dup, "dup.yaml")))) == 4


def test_env_expansion(make_study, monkeypatch):
    assert expand_env("${A:-x/y}", {}) == "x/y"
    assert expand_env("${A:-x}", {"A": "set"}) == "set"
    assert expand_env("${A:-x}", {"A": ""}) == "x"
    assert expand_env("pre-${A}-post", {"A": "v"}) == "pre-v-post"
    assert expand(load_study(make_study()))[0].config.model == "tiny-model"
    monkeypatch.setenv("XSHOT_TEST_MODEL", "/opt/models/me5")
    assert expand(load_study(make_study()))[0].config.model == "/opt/models/me5"


def _error(text: str, tmp_path) -> XshotError:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(XshotError) as info:
        load_study(path)
    return info.value


@pytest.mark.parametrize(
    "old, new, line, words",
    [
        ("seeds: [1, 2]", "seeds: [1, 2]\nsede: 3", 9, ["unknown key 'sede'", "allowed:"]),
        ("    k: [4, 16]", "    k: [4, 16]\n    kk: 3", 15, ["unknown key 'kk' in settings[0]"]),
        ("  - finetune", "  - fintune", 6, ["unknown method 'fintune'", "dualcl"]),
        ("    train: xnli:en:dev", "    train: xnli", 13, ["'xnli'", "incomplete"]),
        ("    train: xnli:en:dev", "    train: nosuchset:en:dev", 13, ["unknown dataset 'nosuchset'"]),
        ('    eval: ["xnli:{lang}:test"]', "    eval: [wikiann:sw:test]", 15, ["NER set", "task nli"]),
        ("${XSHOT_TEST_MODEL:-tiny-model}", "${XSHOT_UNSET_VAR_FOR_TEST}", 4, ["XSHOT_UNSET_VAR_FOR_TEST is not set"]),
        ("seeds: [1, 2]", "seeds: [1, 2]\nseeds: [3]", 9, ["duplicate key 'seeds'"]),
        ("    k: [4, 16]", "    k: [0]", 14, ["positive integer"]),
        ("    k: [4, 16]", "    k: [4, 16]\n    target_k: [2]", 15, ["target_k without target_train"]),
        ("languages: [de, sw]\n", "", 14, ["'{lang}' is used but no languages"]),
        ("defaults: {max_steps: 5", "defaults: {max_steps: five", 10, ["max_steps", "integer"]),
        ("seeds: [1, 2]", "seeds: [1, 2", 9, ["invalid YAML"]),
        ("seeds: [1, 2]", "seeds: [1, 2]\ncomparisons: [[lora, dualcl]]", 9,
         ["comparisons: entry 1: 'dualcl' is neither a method nor a setting of this study (methods: finetune, lora; "
          "settings: src)"]),
        ("seeds: [1, 2]", "seeds: [1, 2]\ncomparisons: [[lora, src]]", 9, ["compares a method with a setting"]),
        ("seeds: [1, 2]", "seeds: [1, 2]\ncomparisons: [[lora, lora]]", 9, ["entry 1 compares 'lora' with itself"]),
        ("seeds: [1, 2]", "seeds: [1, 2]\ncomparisons: [[lora]]", 9, ["each entry is a pair [A, B] of method names"]),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path, old, new, line, words):
    assert old in TINY
    err = _error(TINY.replace(old, new), tmp_path)
    message = str(err)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}:{line}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_missing_required_keys(tmp_path):
    err = _error("name: x\nmodels: [m]\nmethods: [lora]\nsettings:\n  - name: a\n    k: 3\n", tmp_path)
    assert "missing required key 'train' in settings[0]" in str(err) and ":5:" in str(err)
    err = _error("name: x\nmodels: [m]\nmethods: [lora]\nsettings:\n  - name: a\n    train: xnli:en:dev\n", tmp_path)
    assert "no k given" in str(err)
    err = _error("- 1\n- 2\n", tmp_path)
    assert "must be a YAML mapping" in str(err)


def test_parse_study_text_without_file():
    study, lines = parse_study(TINY, "inline.yaml")
    assert study.name == "tiny" and study.source == "inline.yaml"
    assert lines[("settings", 0, "train")] == 13


@pytest.mark.parametrize("cmd", ["run", "plan"])
def test_cli_validation_error_exit_2_one_line(tmp_path, capsys, cmd):
    path = tmp_path / "broken.yaml"
    path.write_text(TINY.replace("  - finetune", "  - nosuchmethod"))
    store = tmp_path / "s.sqlite"
    rc = main([cmd, str(path), "--store", str(store)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1
    assert f"{path}:6: " in err and "unknown method 'nosuchmethod'" in err
    assert not store.exists()  # nothing ran, nothing was created


def test_cli_missing_study_file(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such study file" in capsys.readouterr().err


@pytest.mark.parametrize("entry,message", [
    ("{name: lora, options: {rnk: 8}}", "method 'lora': unknown option(s) rnk"),
    ("{name: lora, options: {verbalizer_language: targte}}",
     "method 'lora': option verbalizer_language must be one of source, target"),
    ("{name: lora, options: {rank: -1}}", "method 'lora': option rank must be at least 1"),
    ("{name: lora, options: {freeze_embeddings: maybe}}", "method 'lora': option freeze_embeddings: expected true or false"),
    ("{name: lora, options: {template: x}}", "method 'lora': option template is for head=verbalizer; this run has head=linear"),
    ("{name: lora, search: {rank: [4, 8]}}", "method 'lora': search: rank is fixed when the model is built"),
    ("{name: dualcl, search: {alpha: [0.0, 1.0]}}", "method 'dualcl': search: alpha is fixed when the model is built"),
    ("{name: lora, search: {warmup_ratio: [0.1, 2.0]}}", "method 'lora': search: option warmup_ratio must be at most 1"),
    ("{name: lora, search: {weight_decay: []}}", "method 'lora': search: weight_decay needs a non-empty list of values"),
    ("{name: lora, selection: none}", "method 'lora': search needs selection: cv or dev-k"),
])
def test_bad_method_options_and_search_spaces_fail_at_load_with_file_and_line(make_study, entry, message):
    text = f"""\
name: bad
task: nli
models: [m]
methods:
  - finetune
  - {entry}
defaults: {{selection: cv, search: {{learning_rate: [1.0e-5, 1.0e-4]}}}}
settings:
  - {{name: s, train: "xnli:en:dev", k: [4], eval: ["xnli:de:test"]}}
"""
    with pytest.raises(XshotError) as err:
        expand(load_study(make_study(text)))
    assert err.value.line == 6 and message in err.value.message


def test_a_method_entry_search_replaces_the_default_space(make_study):
    text = """\
name: sel
task: nli
models: [m]
methods:
  - finetune
  - {name: lora, search: {weight_decay: [0.0, 0.1]}}
defaults: {selection: cv, search: {learning_rate: [1.0e-5, 1.0e-4]}}
settings:
  - {name: s, train: "xnli:en:dev", k: [4], eval: ["xnli:de:test"]}
"""
    cells = {c.config.method: c.config for c in expand(load_study(make_study(text)))}
    assert cells["finetune"].search == {"learning_rate": [1e-5, 1e-4]} and cells["finetune"].selection == "cv"
    assert cells["lora"].search == {"weight_decay": [0.0, 0.1]}


def test_a_setting_may_name_its_own_models(make_study):
    text = """\
name: mixed
task: nli
models: [enc]
methods: [finetune, zero-shot]
settings:
  - {name: enc, train: "xnli:en:dev", k: [4], eval: ["xnli:de:test"], methods: [finetune]}
  - {name: dec, train: "xnli:en:dev", k: [4], eval: ["xnli:de:test"], methods: [zero-shot], models: [dec-a, dec-b]}
"""
    study = load_study(make_study(text))
    assert [(c.setting, c.config.model, c.config.method) for c in expand(study)] == [
        ("enc", "enc", "finetune"), ("dec", "dec-a", "zero-shot"), ("dec", "dec-b", "zero-shot")]
    assert {c.config.model for c in expand(study, models=["other"])} == {"other"}  # --model replaces all


def test_a_settings_own_method_entry_overrides_the_studys():
    from xshot.studies.grid import expand
    from xshot.studies.spec import parse_study
    text = TINY.replace('''    k: [4, 16]''', '''    k: [4]
    methods: [finetune, {name: lora, learning_rate: 3.0e-4, options: {lora_alpha: 2}}]
    learning_rate: 1.0e-5''')
    study, _ = parse_study(text, "s.yaml")
    by_method = {c.config.method: c.config for c in expand(study)}
    assert by_method["finetune"].learning_rate == 1.0e-5  # the setting's rate: the study's entry has none
    assert by_method["lora"].learning_rate == 3.0e-4  # the setting's lora entry beats the study's 1e-3
    assert by_method["lora"].options == {"rank": 4, "lora_alpha": 2}  # options merged


def test_a_settings_method_entry_is_checked_with_its_line():
    from xshot.studies.spec import parse_study
    text = TINY.replace('''    k: [4, 16]''', '''    k: [4]
    methods:
      - finetune
      - {name: lora, options: {rank: 0}}''')
    with pytest.raises(XshotError) as err:
        parse_study(text, "s.yaml")
    assert "method 'lora'" in err.value.message and err.value.line == text.splitlines().index("      - {name: lora, options: {rank: 0}}") + 1
