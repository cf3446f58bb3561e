"""The study file: schema, ``${ENV}`` expansion and validation with file:line error messages.

A study is a YAML mapping::

    name: xnli-fewshot
    task: nli                                   # default for every setting
    models: [${XSHOT_MODEL:-xlm-roberta-base}]  # ${VAR} / ${VAR:-default} expand in any string
    methods:                                    # a name, or a mapping with per-method overrides
      - finetune
      - {name: lora, learning_rate: 5.0e-4, options: {rank: 8}}
    seeds: [1, 2, 3]
    languages: [de, sw]                         # fills "{lang}" placeholders (see settings)
    defaults: {max_steps: 200, batch_size: 16, eval_limit: 1000}   # any RunConfig field
    resources: {num_cpus: 1, num_gpus: auto}    # what one cell asks of Ray
    settings:                                   # the train sets: each is crossed with models x methods x k x seeds
      - name: source-fewshot
        train: xnli:en:dev
        k: [4, 16, 64]                          # null = all the training data
        eval: ["xnli:{lang}:test"]              # one cell evaluates on every language
      - name: target-fewshot
        train: xnli:en:dev
        k: [16]
        target_train: "xnli:{lang}:dev"         # "{lang}" in train/target_train: one cell per language,
        target_k: [4, 16]                       # each evaluated on its own language
        eval: ["xnli:{lang}:test"]
      - name: decoder-prompting
        models: [gemma3-270m]                   # optional: this setting's own models
        methods: [zero-shot, {name: icl, options: {demonstrations: 2}}]   # optional: a subset of the study's
                                                # methods, each with this setting's own overrides
        train: xnli:en:dev
        k: [16]
        eval: ["xnli:{lang}:test"]
    comparisons: [[lora, finetune], [source-fewshot, target-fewshot]]   # the report's findings (optional)

Overrides apply in the order ``defaults`` < setting < method < the setting's entry for the method
(``options`` dicts are merged).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, create_model,
                      field_validator)

from xshot.data import spec as data_spec
from xshot.errors import XshotError
from xshot.methods import method_names
from xshot.training.config import RunConfig
from xshot.yamlfile import Path_, line_of, read_yaml

#: RunConfig fields that the grid itself sets; every other RunConfig field may be overridden.
GRID_FIELDS = frozenset({"task", "model", "method", "train", "k", "seed", "eval", "target_train", "target_k"})

LANG = "{lang}"


# --------------------------------------------------------------------------------------------------
# dataset specs with "{lang}" placeholders
# --------------------------------------------------------------------------------------------------
def spec_error(spec: str) -> str | None:
    """Why ``spec`` (``{lang}`` allowed) is not a dataset spec, or None if it is one."""
    return data_spec.spec_error(spec.replace(LANG, "xx") if isinstance(spec, str) else spec)


def dataset_task(spec: str) -> str | None:
    """The task of a built-in dataset spec (``{lang}`` allowed), None when unknown."""
    known = data_spec.builtin(spec.replace(LANG, "xx"))
    return known.task if known else None


def _check_spec(value: str | None) -> str | None:
    if value is None:
        return value
    err = spec_error(value)
    if err:
        raise ValueError(err)
    return value


def _check_specs(value: list[str] | None) -> list[str] | None:
    for spec in value or []:
        _check_spec(spec)
    return value


def _as_list(value: Any) -> Any:
    if value is None or isinstance(value, (list, tuple)):
        return value
    return [value]


# --------------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------------
def _override_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, info in RunConfig.model_fields.items():
        if name in GRID_FIELDS:
            continue
        # Unset means "keep RunConfig's default"; the annotation stays strict (no explicit null for an int).
        fields[name] = (info.annotation, Field(default=None, description=info.description))
    return fields


RunOverrides = create_model(  # type: ignore[call-overload]
    "RunOverrides",
    __config__=ConfigDict(extra="forbid", protected_namespaces=()),
    **_override_fields(),
)
RunOverrides.__doc__ = "Any RunConfig field that the grid does not set (learning_rate, max_steps, options, ...)."


def overrides_of(model: BaseModel) -> dict[str, Any]:
    """The RunConfig overrides explicitly given in ``model`` (a RunOverrides or a subclass)."""
    data = model.model_dump(exclude_unset=True)
    return {k: v for k, v in data.items() if k in RunOverrides.model_fields}


class MethodSpec(RunOverrides):  # type: ignore[misc, valid-type]
    """A method of the study, with its own hyper-parameter overrides."""

    name: str

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in method_names():
            raise ValueError(f"unknown method {value!r} (known: {', '.join(method_names())})")
        return value


class Resources(BaseModel):
    """What one cell asks of a Ray cluster. ``num_gpus: auto`` = 1 when the cluster has GPUs, else 0."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float | Literal["auto"] = "auto"
    memory_gb: float | None = Field(default=None, gt=0)


class SettingMethod(RunOverrides):  # type: ignore[misc, valid-type]
    """One of the study's methods run in a setting, with overrides for this setting only (e.g. a learning rate
    chosen for this setting's model); the study's method entry names the method and checks it exists."""

    name: str


class SettingSpec(RunOverrides):  # type: ignore[misc, valid-type]
    """One train set (source few-shot, target few-shot or full data) and what it is evaluated on."""

    name: str
    task: Optional[Literal["nli", "ner"]] = None
    train: str
    k: Optional[list[Optional[int]]] = None
    target_train: Optional[str] = None
    target_k: Optional[list[Optional[int]]] = None
    languages: Optional[list[str]] = None
    eval: Optional[list[str]] = None
    methods: Optional[list[SettingMethod]] = None  # a subset of the study's methods, each with its own overrides
    seeds: Optional[list[int]] = None
    models: Optional[list[str]] = None  # this setting's models instead of the study's (e.g. decoders for ICL)

    _lists = field_validator("k", "target_k", "languages", "seeds", "eval", "models", mode="before")(_as_list)

    @field_validator("methods", mode="before")
    @classmethod
    def _method_entries(cls, value: Any) -> Any:
        value = _as_list(value)
        return [{"name": m} if isinstance(m, str) else m for m in value] if isinstance(value, list) else value

    def runs(self, method: str) -> bool:
        """Whether this setting runs the study's method ``method``."""
        return self.methods is None or any(m.name == method for m in self.methods)

    def method_overrides(self, method: str) -> dict[str, Any]:
        """This setting's own overrides for ``method`` (they come after the study's method entry)."""
        return next((overrides_of(m) for m in self.methods or [] if m.name == method), {})
    _specs = field_validator("train", "target_train")(_check_spec)
    _eval_specs = field_validator("eval")(_check_specs)

    @field_validator("k", "target_k")
    @classmethod
    def _positive(cls, value: list[int | None] | None) -> list[int | None] | None:
        for k in value or []:
            if k is not None and k < 1:
                raise ValueError(f"K must be a positive integer or null (all the data), got {k}")
        return value


class Preregistration(BaseModel):
    """What a study declares before it runs, so that its report can say whether the analysis is that one.

    The Holm family is the study's ``comparisons`` (required here), at xshot's α = 0.05, and the seeds are the
    study's ``seeds``;
    ``xshot run`` records the study file's SHA-256 with every cell, and the report compares the first cell's
    with the file it is given.
    """

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question the study answers, in one sentence")
    primary_metric: dict[Literal["nli", "ner"], Literal["accuracy", "f1"]] = Field(
        default_factory=lambda: {"nli": "accuracy", "ner": "f1"},
        description="Each task's primary metric (accuracy for NLI, entity-level micro F1 for NER by default)")
    detect: float = Field(gt=0, description="The effect, in points, the seeds were sized to detect (xshot plan --detect)")
    power: float = Field(default=0.8, gt=0, lt=1, description="The power the seeds were sized for")
    hyperparameters: Literal["cross-validation", "fixed-from-pilot", "fixed-from-literature"] = Field(
        description="How hyperparameters were chosen: in each cell on its shots, once on pilot seeds' shots "
                    "disjoint from the study's seeds, or the literature's values; never on test scores")
    hyperparameters_note: str = Field(default="", description="Where the fixed values come from")
    stopping: str = Field(min_length=1, description="When the study stops (e.g. every cell of the grid, no peeking)")


class Study(BaseModel):
    """A validated study file."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    task: Optional[Literal["nli", "ner"]] = None
    models: list[str] = Field(min_length=1)
    methods: list[MethodSpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    k: Optional[list[Optional[int]]] = None
    languages: Optional[list[str]] = None
    eval: Optional[list[str]] = None
    defaults: RunOverrides = Field(default_factory=RunOverrides)  # type: ignore[valid-type]
    settings: list[SettingSpec] = Field(min_length=1)
    resources: Resources = Field(default_factory=Resources)
    store: Optional[str] = None
    tracking: Optional[str] = Field(default=None, description="TensorBoard log directory for every cell")
    comparisons: Optional[list[tuple[str, str]]] = Field(
        default=None, description="[A, B] pairs that the report's findings test as A − B: two methods (in every "
                                  "table that has both) or two settings (each method they share, per model and K); "
                                  "default: DualCL against each prompting method, each method against finetune")
    preregistration: Optional[Preregistration] = Field(
        default=None, description="The question, metric, family, protocol and stopping rule declared before running")

    #: where the study was loaded from (not part of the file)
    _source: Optional[str] = PrivateAttr(default=None)
    _lines: dict = PrivateAttr(default_factory=dict)  # YAML location -> line, for errors found later
    _sha256: Optional[str] = PrivateAttr(default=None)  # of the file's text, recorded with every cell

    _lists = field_validator("models", "seeds", "k", "languages", "eval", mode="before")(_as_list)

    @field_validator("methods", mode="before")
    @classmethod
    def _method_entries(cls, value: Any) -> Any:
        value = _as_list(value)
        if isinstance(value, list):
            return [{"name": m} if isinstance(m, str) else m for m in value]
        return value

    _eval_specs = field_validator("eval")(_check_specs)

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        for m in value:
            if not m.strip():
                raise ValueError("empty model name")
        return value

    @field_validator("comparisons", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        for i, entry in enumerate(value if isinstance(value, list) else [value] if value is not None else []):
            if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
                raise ValueError(f"entry {i + 1} is {entry!r}: each entry is a pair [A, B] of method names")
        return value

    @field_validator("comparisons")
    @classmethod
    def _comparisons(cls, value: list[tuple[str, str]] | None, info: ValidationInfo) -> list[tuple[str, str]] | None:
        methods = list(dict.fromkeys(m.name for m in info.data.get("methods", [])))  # validated before
        settings = [st.name for st in info.data.get("settings", [])]
        for i, (a, b) in enumerate(value or []):
            if a == b:
                raise ValueError(f"entry {i + 1} compares {a!r} with itself")
            for side in (a, b):
                if methods and side not in methods and side not in settings:
                    raise ValueError(f"entry {i + 1}: {side!r} is neither a method nor a setting of this study "
                                     f"(methods: {', '.join(methods)}; settings: {', '.join(settings)})")
            if methods and (a in methods) != (b in methods):
                raise ValueError(f"entry {i + 1} compares a method with a setting: compare two methods (within "
                                 "each table) or two settings (the methods they share)")
        return value

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def sha256(self) -> str | None:
        """The SHA-256 of the study file's text (None for a study not read from text)."""
        return self._sha256

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """The file line of a location such as ``("methods", 2)`` (None for a study not read from text)."""
        return line_of(self._lines, loc)


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------
def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for elem in loc:
        if isinstance(elem, int):
            out += f"[{elem}]"
        else:
            out += ("." if out else "") + str(elem)
    return out or "the study"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (for listing the allowed keys)."""
    import typing

    model: Any = Study
    for elem in loc:
        if isinstance(elem, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or elem not in model.model_fields:
            return None
        ann = model.model_fields[elem].annotation
        while True:
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                break
            if not args:
                break
            ann = args[0]
        model = ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _format_error(err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        model = _model_at(parent)
        allowed = ""
        if model is not None:
            own = [n for n in model.model_fields if n not in RunOverrides.model_fields]
            names = own + [n for n in model.model_fields if n in RunOverrides.model_fields]
            allowed = f" (allowed: {', '.join(names)})"
        return f"unknown key {loc[-1]!r} in {_where(parent)}{allowed}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r} in {_where(loc[:-1])}"
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        return f"{_where(loc)}: {msg[len('Value error, '):]}"
    got = err.get("input")
    got_s = repr(got)
    if len(got_s) > 60:
        got_s = got_s[:57] + "..."
    return f"{_where(loc)}: {msg} (got {got_s})"


def parse_study(text: str, path: str | Path = "<study>") -> tuple[Study, dict[Path_, int]]:
    """Parse and validate study text; returns the study and its YAML line map."""
    path = str(path)
    data, lines = read_yaml(text, path, "a study file (name, models, methods, settings, ...)")
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: line_of(lines, tuple(e.get("loc", ()))) or 0)
        first = errors[0]
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise XshotError(_format_error(first) + more, path, line_of(lines, tuple(first.get("loc", ())))) from None
    study._source = path
    study._lines = lines
    study._sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    _check(study, lines, path)
    return study, lines


def load_study(path: str | Path) -> Study:
    """Read, expand and validate a study file; any problem is an :class:`XshotError` naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise XshotError("no such study file", p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise XshotError(f"cannot read study file: {err}", p) from None
    study, _ = parse_study(text, p)
    return study


def setting_ks(study: Study, setting: SettingSpec) -> list[int | None] | None:
    """The K values of a setting (its own, else the study's); ``k: null`` means [None] (all the data)."""
    for owner in (setting, study):
        if "k" in owner.model_fields_set:
            return owner.k if owner.k is not None else [None]
    return None


def _check(study: Study, lines: dict[Path_, int], path: str) -> None:
    """Cross-field checks that pydantic's per-field validation cannot do."""

    def fail(msg: str, loc: tuple[Any, ...]) -> None:
        raise XshotError(msg, path, line_of(lines, loc))

    method_names = [m.name for m in study.methods]
    for i, name in enumerate(method_names):
        if name in method_names[:i]:
            fail(f"method {name!r} is listed twice", ("methods", i))
    names: set[str] = set()
    for i, s in enumerate(study.settings):
        at = ("settings", i)
        if s.name in names:
            fail(f"setting name {s.name!r} is used twice", at + ("name",))
        names.add(s.name)
        task = s.task or study.task
        if task is None:
            task = dataset_task(s.train)
            if task is None:
                fail(f"settings[{i}] ({s.name}): no task given (set task: nli|ner)", at)
        for key, specs in (("train", [s.train]), ("target_train", [s.target_train]), ("eval", s.eval or study.eval or [])):
            for spec in specs:
                if spec is None:
                    continue
                known = dataset_task(spec)
                if known is not None and known != task:
                    fail(f"dataset {spec!r} is a {known.upper()} set but settings[{i}] ({s.name}) has task {task}", at + (key,))
        ks = setting_ks(study, s)
        if ks is None:
            fail(f"settings[{i}] ({s.name}): no k given (a list of shots, or null for all the training data)", at)
        if ks == []:
            fail(f"settings[{i}] ({s.name}): k is an empty list", at + ("k",))
        if s.target_k is not None and s.target_train is None:
            fail(f"settings[{i}] ({s.name}): target_k without target_train", at + ("target_k",))
        if s.target_k == []:
            fail(f"settings[{i}] ({s.name}): target_k is an empty list", at + ("target_k",))
        evals = s.eval if s.eval is not None else study.eval
        if not evals:
            fail(f"settings[{i}] ({s.name}): no eval sets (eval: [...] here or at the top level)", at)
        langs = s.languages if s.languages is not None else study.languages
        uses_lang = [key for key, values in (("train", [s.train]), ("target_train", [s.target_train or ""]),
                                             ("eval", evals)) if any(LANG in v for v in values)]
        if uses_lang and not langs:
            fail(f"settings[{i}] ({s.name}): '{LANG}' is used but no languages are given", at + (uses_lang[0],))
        for j, m in enumerate(s.methods or []):
            if m.name not in method_names:
                fail(f"settings[{i}] ({s.name}): method {m.name!r} is not in the study's methods", at + ("methods", j))
        if s.seeds == []:
            fail(f"settings[{i}] ({s.name}): seeds is an empty list", at + ("seeds",))
    if study.preregistration is not None and not study.comparisons:
        fail("a pre-registered study names its comparisons (comparisons: [[A, B], ...]): they are its Holm family",
             ("preregistration",))
    _check_method_options(study, fail)


def _check_method_options(study: Study, fail) -> None:
    """Every method's options, merged as the grid merges them, resolve into its config (before any cell runs)."""
    from xshot.methods import get_method
    from xshot.methods.base import unsearchable_error

    layers = [("defaults",), *[("settings", i) for i in range(len(study.settings))]]
    owners = [study.defaults, *study.settings]
    for i, m in enumerate(study.methods):
        config_class = get_method(m.name).config_class
        own = [(sm, ("settings", j, "methods", k)) for j, st in enumerate(study.settings)
               for k, sm in enumerate(st.methods or []) if sm.name == m.name]
        for owner, loc in [*zip(owners, layers), (m, ("methods", i)), *own]:
            if isinstance(owner, SettingSpec) and not owner.runs(m.name):
                continue
            for name, values in (owner.search or {}).items():  # every searched value must be a valid option
                if error := unsearchable_error(name):
                    fail(f"method {m.name!r}: {error}", loc + ("search", name))
                if name in ("learning_rate", "batch_size", "max_steps") or not isinstance(values, list):
                    continue
                for value in values:
                    try:
                        config_class.resolve({name: value})
                    except XshotError as err:
                        fail(f"method {m.name!r}: search: {err.message}", loc + ("search", name))
            options = owner.options or {}
            if not options:
                continue
            try:
                config_class.resolve(options)
            except XshotError as err:
                fail(f"method {m.name!r}: {err.message}", loc + ("options",))
