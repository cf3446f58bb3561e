"""Readers for the file formats a dataset spec can name: CoNLL, NLI TSV/CSV and JSONL.

Every problem with a file is an :class:`XshotError` that names the file and, where there is
one, the line, because the people feeding these files in are usually fixing them by hand.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from xshot.data.examples import NLI_LABELS, Dataset, NERExample, NLIExample
from xshot.data.tags import check_tag, detect_scheme, entity_types, to_iob2
from xshot.errors import XshotError

NLI_ROLES = ("premise", "hypothesis", "label")
NER_ROLES = ("tokens", "tags")
ROLES = NLI_ROLES + NER_ROLES

# XTREME's WikiANN writes every token as ``en:Paris``.
_LANG_PREFIX = re.compile(r"([a-z]{2,3}):(?=.)")
# Only ASCII blanks separate columns: str.split() would also split on NBSP inside tokens.
_BLANKS = re.compile(r"[ \t]+")


def read_lines(path: str | Path) -> list[str]:
    """Decode a UTF-8 file (BOM and CRLF tolerated) into lines; refuse empty or non-UTF-8 files."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise XshotError(f"cannot read file: {err.strerror}", path) from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        raise XshotError(
            f"not valid UTF-8 (byte 0x{data[offset]:02x}); re-encode the file as UTF-8", path, line
        ) from err
    if not text.strip():
        raise XshotError("empty file", path)
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_nli_label(value: Any) -> str | None:
    """``entailment|neutral|contradiction`` or 0/1/2 in XNLI order; None if it is neither."""
    if isinstance(value, int) and not isinstance(value, bool):
        return NLI_LABELS[value] if 0 <= value < len(NLI_LABELS) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return parse_nli_label(int(text))
        return text if text in NLI_LABELS else None
    return None


def _nli_label(value: Any, path: str | Path, line: int | None) -> str:
    label = parse_nli_label(value)
    if label is None:
        raise XshotError(f"bad NLI label {value!r} (expected {', '.join(NLI_LABELS)} or 0/1/2)", path, line)
    return label


def nli_dataset(
    examples: list[NLIExample], name: str, language: str | None = None, meta: dict | None = None
) -> Dataset:
    return Dataset("nli", examples, name, language, labels=NLI_LABELS, meta=dict(meta or {}))


def ner_dataset(
    sentences: Sequence[tuple[Sequence[str], Sequence[str]]],
    name: str,
    language: str | None = None,
    meta: dict | None = None,
) -> Dataset:
    """Build a NER dataset from validated tags, converting the file's scheme to IOB2."""
    scheme = detect_scheme(tags for _, tags in sentences)
    examples = [NERExample(tuple(tokens), to_iob2(tags)) for tokens, tags in sentences]
    labels = entity_types(ex.tags for ex in examples)
    return Dataset("ner", examples, name, language, labels=labels, meta={**(meta or {}), "tag_scheme": scheme})


def _strip_language_prefixes(sentences: list[tuple[list[str], list[str]]]) -> str | None:
    """Drop ``xx:`` token prefixes in place if every token has one; return the language if unique."""
    if not all(_LANG_PREFIX.match(tok) for tokens, _ in sentences for tok in tokens):
        return None
    codes = set()
    for tokens, _ in sentences:
        split = [tok.split(":", 1) for tok in tokens]
        codes.update(code for code, _ in split)
        tokens[:] = [rest for _, rest in split]
    return codes.pop() if len(codes) == 1 else None


def _conll_fields(line: str, tab_separated: bool) -> list[str]:
    if tab_separated:
        return [field.strip(" ") for field in line.split("\t")]
    return _BLANKS.split(line.rstrip(" \t"))  # a leading blank leaves an empty token field


def conll_sentences(lines: list[str]) -> Iterator[list[tuple[int, str]]]:
    """The (line number, line) groups of a CoNLL file: blank lines and ``-DOCSTART-`` lines end a sentence."""
    current: list[tuple[int, str]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                yield current
            current = []
        else:
            current.append((lineno, line))
    if current:
        yield current


def read_conll(path: str | Path) -> Dataset:
    """CoNLL-style NER: ``token ... TAG`` per line, blank line between sentences.

    Tab-separated if the first token line has a tab, else space-separated; the first token
    line also fixes the column count. ``-DOCSTART-`` lines are document boundaries. Lines with
    an empty token are skipped and counted in ``meta["blank_tokens_skipped"]``.
    """
    sentences: list[tuple[list[str], list[str]]] = []
    layout: tuple[bool, int, int] | None = None  # (tab-separated, columns, line that set them)
    blank_tokens = 0
    valid_tags: set[str] = set()  # a corpus has a handful of distinct tags: check each once
    for block in conll_sentences(read_lines(path)):
        tokens: list[str] = []
        tags: list[str] = []
        for lineno, line in block:
            if layout is None:
                tab = "\t" in line
                layout = (tab, len(_conll_fields(line, tab)), lineno)
            fields = _conll_fields(line, layout[0])
            if len(fields) != layout[1] or layout[1] < 2:
                expected = "a token and a tag column" if layout[1] < 2 else f"{layout[1]} columns as on line {layout[2]}"
                raise XshotError(f"wrong column count: expected {expected}, found {len(fields)}", path, lineno)
            tag = fields[-1]
            if tag not in valid_tags:
                check_tag(tag, path, lineno)
                valid_tags.add(tag)
            if not fields[0] and all(fields[1:]):
                blank_tokens += 1  # e.g. ' O' in MasakhaNER 2.0 xho: a whitespace token no tokenizer can use
                continue
            if not all(fields):
                raise XshotError("empty column", path, lineno)
            tokens.append(fields[0])
            tags.append(tag)
        if tokens:
            sentences.append((tokens, tags))
    if not sentences:
        raise XshotError("no sentences (only -DOCSTART- lines)", path)
    language = _strip_language_prefixes(sentences)
    return ner_dataset(sentences, str(path), language, {"path": str(path), "blank_tokens_skipped": blank_tokens})


def _table_rows(path: str | Path, lines: list[str], fmt: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank rows; TSV is unquoted (as XNLI), CSV is RFC 4180."""
    if fmt == "tsv":
        yield from ((n, line.split("\t")) for n, line in enumerate(lines, 1) if line.strip())
        return
    reader = csv.reader(io.StringIO("\n".join(lines)), strict=True)
    try:
        for fields in reader:
            if fields:
                yield reader.line_num, fields
    except csv.Error as err:
        raise XshotError(f"malformed CSV: {err}", path, reader.line_num) from err


def with_defaults(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Column names by role: each role's own name unless the spec maps it (``?premise=sentence1``)."""
    return {role: role for role in ROLES} | dict(columns or {})


def read_nli_table(path: str | Path, fmt: str, columns: Mapping[str, str] | None = None) -> Dataset:
    """NLI from a TSV or CSV file with a header row; ``columns`` maps premise/hypothesis/label to header names."""
    columns = with_defaults(columns)
    rows = _table_rows(path, read_lines(path), fmt)
    header_line, header = next(rows)
    index = {name.strip(): i for i, name in enumerate(header)}
    for role in NLI_ROLES:
        if columns[role] not in index:
            found = ", ".join(index)
            raise XshotError(
                f"missing column {columns[role]!r} for the {role} (header has: {found})", path, header_line
            )
    examples = []
    for lineno, fields in rows:
        if len(fields) != len(header):
            raise XshotError(
                f"wrong column count: expected {len(header)} as in the header, found {len(fields)}", path, lineno
            )
        premise, hypothesis, label = (fields[index[columns[role]]] for role in NLI_ROLES)
        examples.append(NLIExample(premise, hypothesis, _nli_label(label, path, lineno)))
    if not examples:
        raise XshotError("no examples after the header", path)
    return nli_dataset(examples, str(path), meta={"path": str(path)})


def _string_list(value: Any, key: str, path: str | Path, line: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise XshotError(f"{key!r} must be a list of strings", path, line)
    return value


def read_jsonl(path: str | Path, columns: Mapping[str, str] | None = None) -> Dataset:
    """One JSON object per line; the task follows from the keys (premise/hypothesis/label or tokens/tags)."""
    columns = with_defaults(columns)
    objects: list[tuple[int, dict]] = []
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise XshotError(f"invalid JSON: {err.msg}", path, lineno) from err
        if not isinstance(obj, dict):
            raise XshotError("expected a JSON object", path, lineno)
        objects.append((lineno, obj))
    first_line, first = objects[0]
    if columns["tokens"] in first:
        roles = NER_ROLES
    elif columns["premise"] in first or columns["hypothesis"] in first:
        roles = NLI_ROLES
    else:
        raise XshotError(
            f"cannot tell the task from keys {sorted(first)}: expected premise/hypothesis/label (NLI) "
            "or tokens/tags (NER), or map them like jsonl:PATH?premise=...&label=...",
            path,
            first_line,
        )
    for lineno, obj in objects:
        for role in roles:
            if columns[role] not in obj:
                raise XshotError(f"missing key {columns[role]!r}", path, lineno)
    if roles == NLI_ROLES:
        examples = [
            NLIExample(
                str(obj[columns["premise"]]),
                str(obj[columns["hypothesis"]]),
                _nli_label(obj[columns["label"]], path, n),
            )
            for n, obj in objects
        ]
        return nli_dataset(examples, str(path), meta={"path": str(path)})
    sentences = []
    for lineno, obj in objects:
        tokens = _string_list(obj[columns["tokens"]], columns["tokens"], path, lineno)
        tags = _string_list(obj[columns["tags"]], columns["tags"], path, lineno)
        if len(tokens) != len(tags):
            raise XshotError(f"{len(tokens)} tokens but {len(tags)} tags", path, lineno)
        for tag in tags:
            check_tag(tag, path, lineno)
        sentences.append((tokens, tags))
    return ner_dataset(sentences, str(path), meta={"path": str(path)})
