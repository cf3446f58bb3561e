"""Expand a study into cells: settings x models x K x target K x methods x seeds, one RunConfig each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from xshot.errors import XshotError
from xshot.studies.spec import LANG, SettingSpec, Study, dataset_task, overrides_of, setting_ks
from xshot.training.config import RunConfig

_MERGED_DICTS = ("options", "label_map")


@dataclass(frozen=True)
class Cell:
    """One run of a study: its resolved configuration and where in the study it comes from.

    ``precision: auto`` is resolved when the study is expanded (bf16 here, fp32 on a CPU without bf16 units),
    so a store run on two machines keeps their results apart. ``legacy_key`` is the key such a cell had
    before (with ``auto`` in it): its rows count as this cell's when they record the resolved precision.
    """

    config: RunConfig
    study: str
    setting: str
    index: int = 0
    language: str | None = None  # the target language of a per-language setting
    legacy_key: str | None = None
    study_sha256: str | None = None  # of the study file the cell was expanded from (recorded with its rows)

    @property
    def key(self) -> str:
        return self.config.key()

    def stored_keys(self) -> list[str]:
        """The keys this cell's results may be stored under: its own and, for an unresolved ``auto``
        precision (a study expanded without resolving it, as the report does), one per resolved precision."""
        if self.config.precision != "auto":
            return [self.key]
        return [self.key] + [self.config.model_copy(update={"precision": p}).key() for p in ("bf16", "fp16", "fp32")]

    def is_done(self, done: set[str], precisions: dict[str, str]) -> bool:
        """Whether the store's done cells (and the precision each recorded) include this one."""
        if self.key in done:
            return True
        return self.legacy_key in done and precisions.get(self.legacy_key) == self.config.precision


def resolve_auto_precision(config: RunConfig) -> RunConfig:
    """``precision: auto`` as this machine runs it (``backbone.select_precision``); unchanged if unknown."""
    if config.precision != "auto":
        return config
    try:
        from xshot.backbone import precision_name, select_device, select_precision

        resolved = precision_name(select_precision(select_device(config.device), "auto"))
    except Exception:  # a device this machine lacks: the cell fails when it runs, not while planning
        return config
    return config.model_copy(update={"precision": resolved})


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _merge(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in _MERGED_DICTS and isinstance(value, dict):
                out[key] = {**out.get(key, {}), **value}
            else:
                out[key] = value
    return out


def expand(study: Study, models: list[str] | None = None, resolve_precision: bool = True) -> list[Cell]:
    """All the cells of ``study`` in execution order (duplicates, by RunConfig key, dropped).

    ``models`` replaces the study's models and every setting's (the CLI's ``--model``). Without
    ``resolve_precision`` (a report, read anywhere) cells keep ``precision: auto``.
    """
    cells: list[Cell] = []
    seen: set[str] = set()
    for s in study.settings:
        for lang, config in _setting_configs(study, s, models):
            legacy = None
            if resolve_precision and config.precision == "auto":
                legacy, config = config.key(), resolve_auto_precision(config)
            key = config.key()
            if key in seen:
                continue
            seen.add(key)
            cells.append(Cell(config, study.name, s.name, len(cells), lang, legacy if legacy != key else None,
                              study.sha256))
    return cells


def _train_sets(study: Study, s: SettingSpec) -> list[tuple[str | None, str, str | None, list[str]]]:
    """(language, train, target_train, eval specs) per cell group of a setting: one per language when its
    training sets name "{lang}", else one evaluating on every language."""
    langs = s.languages if s.languages is not None else (study.languages or [])
    evals = s.eval if s.eval is not None else (study.eval or [])
    if LANG in s.train or (s.target_train and LANG in s.target_train):
        return [(lang, s.train.replace(LANG, lang), s.target_train.replace(LANG, lang) if s.target_train else None,
                 _unique([e.replace(LANG, lang) for e in evals])) for lang in langs]
    flat: list[str] = []
    for e in evals:
        flat.extend([e.replace(LANG, lang) for lang in langs] if LANG in e else [e])
    return [(None, s.train, s.target_train, _unique(flat))]


def _setting_configs(study: Study, s: SettingSpec, models: list[str] | None):
    """(language, RunConfig) of every cell of a setting, in order: train set x model x K x target K x method x
    seed. Overrides: defaults < setting < method < the setting's entry for the method."""
    task = s.task or study.task or dataset_task(s.train)
    setting_models = list(models) if models else (s.models if s.models is not None else list(study.models))
    methods = [m for m in study.methods if s.runs(m.name)]
    for lang, train, target_train, eval_specs in _train_sets(study, s):
        for model in setting_models:
            for k in setting_ks(study, s) or [None]:
                for target_k in s.target_k if s.target_k is not None else [None]:
                    for method in methods:
                        fields = _merge(overrides_of(study.defaults), overrides_of(s), overrides_of(method),
                                        s.method_overrides(method.name))
                        for seed in s.seeds if s.seeds else study.seeds:
                            yield lang, _config(study, s, method, dict(
                                task=task, model=model, method=method.name, train=train, k=k, seed=seed,
                                eval=eval_specs, target_train=target_train,
                                target_k=target_k if target_train else None, **fields))


def _config(study: Study, s: SettingSpec, method, values: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        msg = str(first.get("msg")).removeprefix("Value error, ")
        raise XshotError(  # the method's entry: where its overrides meet the defaults
            f"setting {s.name!r}, method {method.name!r}: {where + ': ' if where else ''}{msg}",
            study.source, study.line_of(("methods", study.methods.index(method))),
        ) from None
