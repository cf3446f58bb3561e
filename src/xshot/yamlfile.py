"""YAML files whose errors name the line: study files and ``xshot train --config``.

:func:`read_yaml` parses a mapping, rejects duplicate keys, expands ``${VAR}`` / ``${VAR:-default}`` in
every string, and returns a map from each key's path to its line, so that a schema error found later
(an unknown key, a bad value) can still be reported as ``FILE:LINE: ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from xshot.errors import XshotError

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")

Path_ = tuple[Any, ...]


def line_map(text: str, path: str) -> dict[Path_, int]:
    """YAML path -> 1-based line of the key (mappings) or item (sequences); rejects duplicate keys."""
    import yaml

    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        line = mark.line + 1 if mark else None
        if line is not None and "${" in (text.splitlines()[line - 1:line] or [""])[0]:
            problem += " (quote values with ${...} inside [...] or {...}: \"${VAR:-default}\")"
        raise XshotError(f"invalid YAML: {problem}", path, line) from None
    lines: dict[Path_, int] = {(): 1}

    def walk(node: Any, at: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    raise XshotError(f"duplicate key {key!r}", path, key_node.start_mark.line + 1)
                seen.add(key)
                lines[at + (key,)] = key_node.start_mark.line + 1
                walk(value_node, at + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[at + (i,)] = item.start_mark.line + 1
                walk(item, at + (i,))

    if root is not None:
        walk(root, ())
    return lines


def line_of(lines: dict[Path_, int], loc: tuple[Any, ...]) -> int | None:
    """The line of the longest prefix of ``loc`` that the file has (elements it lacks are skipped)."""
    best = None
    at: Path_ = ()
    for elem in loc:
        if at + (elem,) in lines:
            at = at + (elem,)
            best = lines[at]
    return best if best is not None else lines.get(())


def expand_env(value: str, env: dict[str, str] | None = None) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (default used when VAR is unset or empty)."""
    env = os.environ if env is None else env

    def sub(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        val = env.get(var)
        if val:
            return val
        if default is not None:
            return default
        if val is not None:  # set but empty, no default
            return val
        raise KeyError(var)

    return _ENV_RE.sub(sub, value)


def expand_tree(data: Any, lines: dict[Path_, int], path: str, at: Path_ = ()) -> Any:
    if isinstance(data, str):
        try:
            return expand_env(data)
        except KeyError as err:
            raise XshotError(
                f"environment variable {err.args[0]} is not set (write ${{{err.args[0]}:-default}} to give a default)",
                path,
                line_of(lines, at),
            ) from None
    if isinstance(data, dict):
        return {k: expand_tree(v, lines, path, at + (k,)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_tree(v, lines, path, at + (i,)) for i, v in enumerate(data)]
    return data


def read_yaml(text: str, path: str | Path, what: str = "the file") -> tuple[dict[str, Any], dict[Path_, int]]:
    """Parse ``text`` (from ``path``) into an expanded mapping and its line map (an empty file is ``{}``)."""
    import yaml

    path = str(path)
    lines = line_map(text, path)
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # compose above parsed it
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise XshotError(f"{what} must be a YAML mapping", path, 1)
    return expand_tree(data, lines, path), lines


def read_yaml_file(path: str | Path, what: str = "the file") -> tuple[dict[str, Any], dict[Path_, int]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XshotError("no such file", p) from None
    except (OSError, UnicodeDecodeError) as err:
        raise XshotError(f"cannot read: {err}", p) from None
    return read_yaml(text, p, what)
