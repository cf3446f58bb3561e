"""Dataset spec strings (``xnli:sw:test``, ``conll:PATH``, ``hf:ID:CONFIG`` ...) and loading them.

The same string works on the command line, in YAML studies and in Python, so parsing and
resolution live here and nowhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from xshot.data.examples import Dataset, Task
from xshot.data.hub import load_hub
from xshot.data.readers import NLI_ROLES, ROLES, read_conll, read_jsonl, read_nli_table
from xshot.errors import XshotError
from xshot.registry import Registry

SPLITS = ("train", "dev", "test")
_SPLIT_ALIASES = {"validation": "dev"}
_LANG_CODE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class Builtin:
    """A dataset xshot knows by name: where its files sit under a data root, and its Hub copy."""

    name: str
    task: Task
    languages: tuple[str, ...]
    splits: tuple[str, ...]
    hub_id: str
    hub_configs: Mapping[str, str] = field(default_factory=dict)  # language -> Hub config, where they differ
    hub_drop_types: tuple[str, ...] = ()  # so the Hub copy has the types of the local release
    #: rough examples (NLI) / sentences (NER) per language and split, for ``xshot plan``'s estimates only
    sizes: Mapping[str, int] = field(default_factory=dict)
    #: its languages' test sets are translations of the same items (their test-sampling noise is shared)
    parallel: bool = False

    def local_path(self, root: Path, language: str, split: str) -> Path:
        if self.task == "nli":
            return root / "nli" / self.name / split / f"{language}.tsv"
        return root / "ner" / self.name / language / f"{split}.txt"

    def known_languages(self, root: Path | None) -> tuple[str, ...]:
        """The Hub's languages plus any the local data root has."""
        local: set[str] = set()
        if root is not None and self.task == "nli":
            local = {p.stem for p in (root / "nli" / self.name).glob("*/*.tsv")}
        elif root is not None and (root / "ner" / self.name).is_dir():
            local = {p.name for p in (root / "ner" / self.name).iterdir() if p.is_dir()}
        return tuple(sorted(set(self.languages) | local))


#: the datasets xshot knows by name (sizes: the local releases in shared/data, per language)
DATASETS: Registry[Builtin] = Registry("dataset")
for _builtin in (
    Builtin("xnli", "nli", tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split()), SPLITS, "facebook/xnli",
            sizes={"train": 392702, "dev": 2490, "test": 5010}, parallel=True),
    Builtin("americasnli", "nli", tuple("aym bzd cni gn hch nah oto quy shp tar".split()), ("dev", "test"),
            "americas_nli", sizes={"dev": 740, "test": 750}, parallel=True),
    Builtin("masakhaner2", "ner",
            tuple("bam bbj ewe fon hau ibo kin lug luo mos nya pcm sna swa tsn twi wol xho yor zul".split()),
            SPLITS, "masakhane/masakhaner2", sizes={"train": 5000, "dev": 700, "test": 1500}),
    Builtin("masakhaner1", "ner", tuple("amh hau ibo kin lug luo pcm swa wol yor".split()), SPLITS,
            "masakhane/masakhaner", sizes={"train": 1750, "dev": 250, "test": 500}),
    Builtin("wikiann", "ner",
            tuple("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te "
                  "th tl tr ur vi yo zh".split()),
            SPLITS, "unimelb-nlp/wikiann", sizes={"train": 20000, "dev": 10000, "test": 10000}),
    # unimelb-nlp/wikiann carries the Rahimi et al. (2019) splits under ISO 639-1 names.
    Builtin("wikiann-rahimi", "ner", ("amh", "ibo", "kin", "swa", "yor"), SPLITS, "unimelb-nlp/wikiann",
            hub_configs={"amh": "am", "ibo": "ig", "kin": "rw", "swa": "sw", "yor": "yo"},
            sizes={"train": 100, "dev": 100, "test": 100}),
    # The local release (from the MasakhaNER 2.0 transfer corpus) maps MISC to O; so does the Hub copy.
    Builtin("conll2002", "ner", ("es", "nl"), SPLITS, "eriktks/conll2002", hub_drop_types=("MISC",),
            sizes={"train": 8300, "dev": 1900, "test": 1500}),
):
    DATASETS.add(_builtin.name, _builtin)


@dataclass(frozen=True)
class FileReader:
    """A file format a spec can name (``conll:PATH``): its reader and the column roles the spec may map."""

    read: Callable[[Path, Mapping[str, str]], Dataset]
    roles: tuple[str, ...] = ()


READERS: Registry[FileReader] = Registry("file format")
READERS.add("conll", FileReader(lambda path, columns: read_conll(path)))
READERS.add("nli-tsv", FileReader(lambda path, columns: read_nli_table(path, "tsv", columns), NLI_ROLES))
READERS.add("nli-csv", FileReader(lambda path, columns: read_nli_table(path, "csv", columns), NLI_ROLES))
READERS.add("jsonl", FileReader(read_jsonl, ROLES))


def spec_forms() -> str:
    """What a spec may look like, for errors (read from the registries)."""
    files = ", ".join(f"{kind}:PATH" for kind in READERS)
    return f"NAME:LANG[:SPLIT] ({', '.join(DATASETS)}), {files}, hf:ID[:CONFIG]"


def spec_error(spec: str) -> str | None:
    """Why ``spec`` is not a dataset spec, or None if it is one (no file system access)."""
    if not isinstance(spec, str) or not spec.strip():
        return "empty dataset spec"
    if spec != spec.strip():
        return f"dataset spec {spec!r} has surrounding whitespace"
    try:
        parse_spec(spec)
    except XshotError as err:
        return err.message
    return None


def spec_language(spec: str | None) -> str | None:
    """The language a spec names (the LANG of ``NAME:LANG[:SPLIT]``, or a file spec's ``?lang=``)."""
    try:
        return parse_spec(spec).language if spec else None
    except XshotError:
        return None


def spec_dataset(spec: str | None) -> str | None:
    """The built-in dataset a spec names (``xnli`` of ``xnli:de:test``), None for files, the Hub or bad specs."""
    known = builtin(spec) if spec else None
    return parse_spec(spec).kind if known is not None else None


def builtin(spec: str) -> Builtin | None:
    """The built-in dataset a spec names, if it names one (no file system access; bad specs give None)."""
    try:
        kind = parse_spec(spec).kind
    except XshotError:
        return None
    return DATASETS.get(kind) if kind in DATASETS else None


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``kind`` is a built-in name, a file kind or ``hf``."""

    text: str
    kind: str
    target: str  # the language (built-in), file path (file kinds) or dataset id (hf)
    config: str | None = None  # hf only
    split: str | None = None  # built-ins only
    columns: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None


def normalize_split(split: str | None) -> str | None:
    """train/dev/test, with ``validation`` accepted for dev."""
    if split is None:
        return None
    split = _SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise XshotError(f"unknown split {split!r} (expected train, dev or test; 'validation' means dev)")
    return split


def _parse_query(text: str, query: str, roles: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """``premise=sentence1&label=gold&lang=my`` -> (column map, language)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as err:
        raise XshotError(f"dataset spec {text!r}: malformed options {query!r}") from err
    allowed = (*roles, "lang")
    for key, value in pairs:
        if key not in allowed:
            raise XshotError(f"dataset spec {text!r}: unknown option {key!r} (allowed: {', '.join(allowed)})")
        if not value:
            raise XshotError(f"dataset spec {text!r}: option {key!r} needs a value")
    options = dict(pairs)
    language = options.pop("lang", None)
    return options, language


def parse_spec(text: str) -> Spec:
    """Parse without touching the file system; unknown names and malformed options fail here."""
    kind, sep, rest = text.strip().partition(":")
    if not sep or not rest:
        raise XshotError(f"dataset spec {text!r} is incomplete: expected {spec_forms()}")
    if kind in DATASETS:
        language, _, split = rest.partition(":")
        if not language or ":" in split:
            raise XshotError(f"dataset spec {text!r}: expected {kind}:LANG[:SPLIT]")
        return Spec(text, kind, language, split=normalize_split(split or None), language=language)
    if kind in READERS or kind == "hf":
        target, _, query = rest.partition("?")
        roles = ROLES if kind == "hf" else READERS.get(kind).roles
        columns, language = _parse_query(text, query, roles) if query else ({}, None)
        if kind != "hf":
            return Spec(text, kind, target, columns=columns, language=language)
        hub_id, sep, config = target.rpartition(":")
        if not sep or "/" in config:  # no config, or the colon belongs to a path
            hub_id, config = target, ""
        return Spec(text, kind, hub_id, config=config or None, columns=columns, language=language)
    raise XshotError(f"unknown dataset {kind!r}: expected {spec_forms()}")


def with_language(text: str, language: str) -> str:
    """The same built-in dataset and split in another language (``xnli:en:dev`` → ``xnli:de:dev``)."""
    spec = parse_spec(text)
    if spec.kind not in DATASETS:
        raise XshotError(f"dataset spec {text!r} names no language to replace: a built-in dataset "
                         "(NAME:LANG[:SPLIT]) is needed here")
    return f"{spec.kind}:{language}" + (f":{spec.split}" if spec.split else "")


def resolve_data_root(explicit: str | Path | None = None) -> Path | None:
    """The local data root: the argument, else ``$XSHOT_DATA_ROOT``, else the settings file's, else None (the Hub)."""
    from xshot.settings import current

    root = explicit if explicit is not None else os.environ.get("XSHOT_DATA_ROOT") or current().data_root
    if root is None:
        return None
    root = Path(root).expanduser()
    if not root.is_dir():
        raise XshotError(f"data root {str(root)!r} is not a directory")
    return root


def _builtin_split(spec: Spec, split: str | None, root: Path | None) -> tuple[Builtin, str]:
    """The built-in dataset and split a spec names, once its language and split are known to exist."""
    known_dataset = DATASETS.get(spec.kind)
    known = known_dataset.known_languages(root)
    if spec.target not in known:
        raise XshotError(f"{known_dataset.name}: unknown language {spec.target!r} (known: {' '.join(known)})")
    split = spec.split or normalize_split(split)
    if split is None:
        raise XshotError(
            f"dataset spec {spec.text!r} names no split: use {known_dataset.name}:{spec.target}:SPLIT or --split"
        )
    if split not in known_dataset.splits:
        raise XshotError(f"{known_dataset.name} has no {split} split (available: {', '.join(known_dataset.splits)})")
    return known_dataset, split


def check(spec: str, split: str | None = None, data_root: str | Path | None = None) -> None:
    """What :func:`load` would refuse without reading the data: the spec, a built-in's language and split, a
    file's existence (a Hub dataset is only known once asked for). For checking every set a run will read
    before its model loads."""
    parsed = parse_spec(spec)
    if parsed.kind in DATASETS:
        _builtin_split(parsed, split, resolve_data_root(data_root))
    elif parsed.kind != "hf" and not Path(parsed.target).expanduser().exists():
        raise XshotError("cannot read file: No such file or directory", parsed.target)


def _load_builtin(spec: Spec, split: str | None, root: Path | None) -> Dataset:
    known_dataset, split = _builtin_split(spec, split, root)
    name = f"{known_dataset.name}:{spec.target}:{split}"
    path = known_dataset.local_path(root, spec.target, split) if root is not None else None
    if path is not None and path.is_file():
        dataset = read_nli_table(path, "tsv") if known_dataset.task == "nli" else read_conll(path)
        dataset.meta["split"] = split
    else:
        config = known_dataset.hub_configs.get(spec.target, spec.target)
        try:
            dataset = load_hub(known_dataset.hub_id, config, split, name, drop_types=known_dataset.hub_drop_types)
        except XshotError as err:
            if path is None:
                raise
            raise XshotError(f"{err} (and no local copy at {path})") from err
    dataset.name, dataset.language = name, spec.target
    return dataset


def load(spec: str, split: str | None = None, data_root: str | Path | None = None) -> Dataset:
    """Load a dataset spec; an explicit split in a built-in spec wins over ``split``.

    Built-ins read ``data_root`` (else ``$XSHOT_DATA_ROOT``) and fall back to the Hugging Face
    Hub where the file is not there. File specs ignore ``split``.
    """
    parsed = parse_spec(spec)
    if parsed.kind in DATASETS:
        return _load_builtin(parsed, split, resolve_data_root(data_root))
    if parsed.kind == "hf":
        config = parsed.config
        language = parsed.language or (config if config and _LANG_CODE.fullmatch(config) else None)
        return load_hub(parsed.target, config, split, parsed.text, language, parsed.columns)
    path = Path(parsed.target).expanduser()
    dataset = READERS.get(parsed.kind).read(path, parsed.columns)
    dataset.name = parsed.text
    dataset.language = parsed.language or dataset.language
    return dataset
