"""YAML files whose errors name the line."""

from __future__ import annotations

import pytest

from xshot.errors import XshotError
from xshot.yamlfile import line_of, read_yaml, read_yaml_file


def test_lines_of_keys_and_items_and_expanded_variables(monkeypatch):
    monkeypatch.setenv("XS_MODEL", "tiny")
    data, lines = read_yaml("task: nli\nmodel: ${XS_MODEL}\noptions:\n  rank: 8\neval:\n  - a\n  - b\n", "f.yaml")
    assert data == {"task": "nli", "model": "tiny", "options": {"rank": 8}, "eval": ["a", "b"]}
    assert lines[("options", "rank")] == 4 and lines[("eval", 1)] == 7
    assert line_of(lines, ("options", "rank", "deeper")) == 4  # the longest prefix the file has
    assert line_of(lines, ("nowhere",)) == 1


@pytest.mark.parametrize("text,message,line", [
    ("a: 1\na: 2\n", "duplicate key 'a'", 2),
    ("a: [1\nb: 2\n", "invalid YAML", 2),
    ("- 1\n- 2\n", "the file must be a YAML mapping", 1),
    ("a: ${XS_UNSET_VARIABLE}\n", "environment variable XS_UNSET_VARIABLE is not set", 1),
])
def test_errors_name_the_file_and_line(text, message, line):
    with pytest.raises(XshotError, match=message) as err:
        read_yaml(text, "f.yaml")
    assert (err.value.path, err.value.line) == ("f.yaml", line)


def test_an_empty_file_is_an_empty_mapping_and_a_missing_one_an_error(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml_file(tmp_path / "empty.yaml") == ({}, {(): 1})
    with pytest.raises(XshotError, match="no such file"):
        read_yaml_file(tmp_path / "missing.yaml")
