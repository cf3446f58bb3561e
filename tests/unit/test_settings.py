"""Model aliases, the data root and offline mode from a settings file."""

import os

import pytest

from xshot.backbone import load_backbone
from xshot.cli import main
from xshot.data.spec import resolve_data_root
from xshot.errors import Unavailable, XshotError
from xshot.settings import apply_offline, builtin_aliases, current, resolve_model


@pytest.fixture
def settings(tmp_path, monkeypatch):
    def write(text):
        path = tmp_path / "conf" / "xshot.local.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("XSHOT_SETTINGS", str(path))
        return path
    return write


def test_an_alias_resolves_to_its_local_directory_relative_to_the_file(settings, tiny_encoder, tmp_path):
    (tmp_path / "models").mkdir()
    os.symlink(tiny_encoder, tmp_path / "models" / "enc")
    settings("models:\n  my-enc: ../models/enc\n  hub: org/model\n")
    assert resolve_model("my-enc") == str((tmp_path / "models" / "enc").resolve())
    assert resolve_model("hub") == "org/model"
    backbone = load_backbone("my-enc", want_lm_head=False)
    assert backbone.name == str((tmp_path / "models" / "enc").resolve()) and backbone.kind == "encoder"


def test_builtin_aliases_name_hub_ids_and_plain_names_pass_through(settings):
    settings("models: {}\n")
    assert resolve_model("me5-small") == builtin_aliases()["me5-small"] == "intfloat/multilingual-e5-small"
    assert resolve_model("org/some-model") == "org/some-model"


def test_a_local_alias_wins_over_the_builtin_one(settings, tiny_decoder):
    settings(f"models:\n  gemma3-270m: {tiny_decoder}\n")
    assert resolve_model("gemma3-270m") == tiny_decoder


def test_a_missing_directory_is_a_one_line_error(settings, tmp_path):
    path = settings("models:\n  gone: /nonexistent/model\n")
    with pytest.raises(XshotError, match=f"model directory '/nonexistent/model' \\(alias 'gone' in {path}\\) does not exist"):
        resolve_model("gone")
    with pytest.raises(Unavailable) as err:
        load_backbone("gone")
    assert err.value.resource == "model:gone"


def test_an_unknown_name_offline_fails_once_naming_the_aliases(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Unavailable, match="cannot load model 'no-such-model'.*known aliases: .*me5-small"):
        load_backbone("no-such-model")
    code = main(["train", "--task", "nli", "--model", "no-such-model", "--method", "finetune", "--train",
                 "jsonl:unused.jsonl", "--k", "1", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("xshot: error: ")


def test_data_root_and_offline_come_from_the_settings(settings, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    settings("data_root: ../data\noffline: true\n")
    monkeypatch.delenv("XSHOT_DATA_ROOT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert resolve_data_root() == (tmp_path / "data").resolve()
    assert resolve_data_root(str(tmp_path)) == tmp_path  # an explicit root wins
    apply_offline()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_a_bad_settings_file_names_itself(settings):
    settings("models: [a, b]\n")
    with pytest.raises(XshotError, match="models: expected a mapping"):
        current()
    path = settings("data_root: x\nmodles: {}\n")
    with pytest.raises(XshotError, match=f"{path}: expected a mapping with models, data_root and offline"):
        current()
