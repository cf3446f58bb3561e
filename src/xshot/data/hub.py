"""Loading through the ``datasets`` library: ``hf:`` specs and the Hub fallback of the built-ins.

Hub datasets store NLI labels and NER tags as integer class labels; they are turned back into
names through the dataset's own features, so a Hub copy and a local file give equal examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xshot.data.examples import Dataset, NLIExample
from xshot.data.labels import relabel
from xshot.data.readers import NLI_ROLES, ner_dataset, nli_dataset, parse_nli_label
from xshot.data.tags import check_tag
from xshot.errors import XshotError

_SPLIT_NAMES = {"dev": ("validation", "dev", "valid"), "train": ("train",), "test": ("test",)}


def _fetch(hub_id: str, config: str | None) -> Any:
    """A DatasetDict (or a single Dataset) from the Hub, a local dataset dir, or a ``save_to_disk`` dir."""
    import datasets

    path = Path(hub_id)
    try:
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return datasets.load_from_disk(str(path))
        return datasets.load_dataset(hub_id, config)
    except Exception as err:  # the library raises many kinds (network, config, file); all mean "cannot load"
        where = f"{hub_id}:{config}" if config else hub_id
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise XshotError(f"cannot load {where} through the datasets library: {reason}") from err


def _pick_split(loaded: Any, split: str | None, where: str) -> Any:
    if not hasattr(loaded, "keys"):  # a single Dataset: it is the split
        return loaded
    available = list(loaded.keys())
    if split is None:
        if len(available) == 1:
            return loaded[available[0]]
        raise XshotError(f"{where}: no split given (available: {', '.join(available)})")
    for name in _SPLIT_NAMES.get(split, (split,)):
        if name in loaded:
            return loaded[name]
    raise XshotError(f"{where}: no split {split!r} (available: {', '.join(available)})")


def _class_names(feature: Any) -> list[str] | None:
    """The names of a ClassLabel feature (or of a list of them), else None."""
    feature = getattr(feature, "feature", feature)
    return list(feature.names) if hasattr(feature, "names") else None


def _nli(table: Any, columns: Mapping[str, str], where: str) -> list[NLIExample]:
    names = _class_names(table.features[columns["label"]])
    examples = []
    rows = zip(*(table[columns[role]] for role in NLI_ROLES), strict=True)
    for i, (premise, hypothesis, value) in enumerate(rows):
        name = names[value] if names is not None and isinstance(value, int) and 0 <= value < len(names) else value
        label = parse_nli_label(name)
        if label is None:
            raise XshotError(f"{where}: row {i}: bad NLI label {value!r}")
        examples.append(NLIExample(premise, hypothesis, label))
    return examples


def _ner(
    table: Any, columns: Mapping[str, str], where: str, drop_types: tuple[str, ...]
) -> list[tuple[list[str], tuple[str, ...]]]:
    names = _class_names(table.features[columns["tags"]])
    sentences = []
    for i, (tokens, values) in enumerate(zip(table[columns["tokens"]], table[columns["tags"]], strict=True)):
        tags = [names[v] if names is not None else v for v in values]
        for tag in tags:
            try:
                check_tag(tag)
            except XshotError as err:
                raise XshotError(f"{where}: row {i}: {err}") from err
        sentences.append((list(tokens), relabel(tags, {t: "O" for t in drop_types})))
    return sentences


def load_hub(
    hub_id: str,
    config: str | None,
    split: str | None,
    name: str,
    language: str | None = None,
    columns: Mapping[str, str] | None = None,
    drop_types: tuple[str, ...] = (),
) -> Dataset:
    """Load one split with ``datasets`` and convert it; the task follows from the columns."""
    where = f"{hub_id}:{config}" if config else hub_id
    table = _pick_split(_fetch(hub_id, config), split, where)
    present = set(table.column_names)
    columns = dict(columns or {})
    columns.setdefault("tags", next((c for c in ("ner_tags", "tags") if c in present), "ner_tags"))
    for role in ("tokens", *NLI_ROLES):
        columns.setdefault(role, role)
    meta = {"hub_id": hub_id, "config": config, "split": split}
    if columns["tokens"] in present and columns["tags"] in present:
        return ner_dataset(_ner(table, columns, where, drop_types), name, language, meta)
    if all(columns[role] in present for role in NLI_ROLES):
        return nli_dataset(_nli(table, columns, where), name, language, meta)
    raise XshotError(
        f"{where}: cannot tell the task from columns {sorted(present)}: expected premise/hypothesis/label "
        "or tokens/ner_tags; map them like hf:ID?premise=sentence1&hypothesis=sentence2&label=gold"
    )
