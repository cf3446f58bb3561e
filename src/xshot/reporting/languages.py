"""Language codes as data: ISO 639-1/-2/-3 normalisation and the high-resource list.

Results carry the codes their data sets use: two-letter ISO 639-1 codes for XNLI and WikiANN
(``en``, ``sw``, ``zh``), three-letter ISO 639-3 codes for MasakhaNER (``hau``, ``yor``, ``swa``).
Everything in the report that compares languages (the low-resource split, URIEL distances)
first normalises a code to ISO 639-3 with :func:`to_iso639_3`, so ``sw`` and ``swa`` are one
language.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# ISO 639-1 -> ISO 639-3 (individual or macrolanguage code as ISO 639-2/T gives it).
ISO639_1_TO_3: dict[str, str] = {
    "aa": "aar", "ab": "abk", "ae": "ave", "af": "afr", "ak": "aka", "am": "amh", "an": "arg",
    "ar": "ara", "as": "asm", "av": "ava", "ay": "aym", "az": "aze", "ba": "bak", "be": "bel",
    "bg": "bul", "bi": "bis", "bm": "bam", "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos",
    "ca": "cat", "ce": "che", "ch": "cha", "co": "cos", "cr": "cre", "cs": "ces", "cu": "chu",
    "cv": "chv", "cy": "cym", "da": "dan", "de": "deu", "dv": "div", "dz": "dzo", "ee": "ewe",
    "el": "ell", "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "fas",
    "ff": "ful", "fi": "fin", "fj": "fij", "fo": "fao", "fr": "fra", "fy": "fry", "ga": "gle",
    "gd": "gla", "gl": "glg", "gn": "grn", "gu": "guj", "gv": "glv", "ha": "hau", "he": "heb",
    "hi": "hin", "ho": "hmo", "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "hz": "her",
    "ia": "ina", "id": "ind", "ie": "ile", "ig": "ibo", "ii": "iii", "ik": "ipk", "io": "ido",
    "is": "isl", "it": "ita", "iu": "iku", "ja": "jpn", "jv": "jav", "ka": "kat", "kg": "kon",
    "ki": "kik", "kj": "kua", "kk": "kaz", "kl": "kal", "km": "khm", "kn": "kan", "ko": "kor",
    "kr": "kau", "ks": "kas", "ku": "kur", "kv": "kom", "kw": "cor", "ky": "kir", "la": "lat",
    "lb": "ltz", "lg": "lug", "li": "lim", "ln": "lin", "lo": "lao", "lt": "lit", "lu": "lub",
    "lv": "lav", "mg": "mlg", "mh": "mah", "mi": "mri", "mk": "mkd", "ml": "mal", "mn": "mon",
    "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya", "na": "nau", "nb": "nob", "nd": "nde",
    "ne": "nep", "ng": "ndo", "nl": "nld", "nn": "nno", "no": "nor", "nr": "nbl", "nv": "nav",
    "ny": "nya", "oc": "oci", "oj": "oji", "om": "orm", "or": "ori", "os": "oss", "pa": "pan",
    "pi": "pli", "pl": "pol", "ps": "pus", "pt": "por", "qu": "que", "rm": "roh", "rn": "run",
    "ro": "ron", "ru": "rus", "rw": "kin", "sa": "san", "sc": "srd", "sd": "snd", "se": "sme",
    "sg": "sag", "sh": "hbs", "si": "sin", "sk": "slk", "sl": "slv", "sm": "smo", "sn": "sna",
    "so": "som", "sq": "sqi", "sr": "srp", "ss": "ssw", "st": "sot", "su": "sun", "sv": "swe",
    "sw": "swa", "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha", "ti": "tir", "tk": "tuk",
    "tl": "tgl", "tn": "tsn", "to": "ton", "tr": "tur", "ts": "tso", "tt": "tat", "tw": "twi",
    "ty": "tah", "ug": "uig", "uk": "ukr", "ur": "urd", "uz": "uzb", "ve": "ven", "vi": "vie",
    "vo": "vol", "wa": "wln", "wo": "wol", "xh": "xho", "yi": "yid", "yo": "yor", "za": "zha",
    "zh": "zho", "zu": "zul",
}  # fmt: skip

# ISO 639-2/B (bibliographic) codes and other common aliases -> ISO 639-3.
ISO639_ALIASES: dict[str, str] = {
    "alb": "sqi", "arm": "hye", "baq": "eus", "bur": "mya", "chi": "zho", "cze": "ces",
    "dut": "nld", "fre": "fra", "geo": "kat", "ger": "deu", "gre": "ell", "ice": "isl",
    "mac": "mkd", "mao": "mri", "may": "msa", "per": "fas", "rum": "ron", "slo": "slk",
    "tib": "bod", "wel": "cym",
    # Individual languages commonly used for the macrolanguage in NLP data sets.
    "swh": "swa", "cmn": "zho", "arb": "ara", "pes": "fas", "zsm": "msa",
}  # fmt: skip

# High-resource languages (ISO 639-3): plenty of pre-training text and labelled data. Every other
# language in a study counts as low-resource in the report. Overridable per report (the
# ``high_resource`` argument of build_report, or ``report: {high_resource: [...]}`` in the study).
HIGH_RESOURCE_LANGUAGES: frozenset[str] = frozenset(
    {
        "eng", "deu", "fra", "spa", "ita", "por", "nld", "rus", "zho", "jpn", "kor", "ara",
        "pol", "ces", "swe", "fin", "hun", "tur", "vie", "fas",
    }
)  # fmt: skip

_CODE = re.compile(r"^[a-z]{2,3}$")


def to_iso639_3(code: str) -> str | None:
    """Normalise a language code (``sw``, ``SWA``, ``en-US``, ``zh_CN``, ``ger``) to ISO 639-3.

    Returns None when ``code`` is not shaped like a language code at all. A well-formed
    three-letter code not in the alias table is returned unchanged (it may be any of the ~7,000
    ISO 639-3 codes).
    """
    if code is None:
        return None
    c = str(code).strip().lower().replace("_", "-").split("-")[0]
    if not _CODE.match(c):
        return None
    if len(c) == 2:
        return ISO639_1_TO_3.get(c)
    return ISO639_ALIASES.get(c, c)


def high_resource_set(codes: Iterable[str] | None = None) -> frozenset[str]:
    """The high-resource set as ISO 639-3 codes (the default list, or ``codes`` normalised)."""
    if codes is None:
        return HIGH_RESOURCE_LANGUAGES
    return frozenset(n for n in (to_iso639_3(c) for c in codes) if n)


def is_low_resource(code: str, high_resource: Iterable[str] | None = None) -> bool:
    """True unless ``code`` is in the high-resource list (codes compared as ISO 639-3)."""
    iso = to_iso639_3(code)
    return (iso or str(code).lower()) not in high_resource_set(high_resource)


#: writing systems of the non-Latin-script languages in xshot's datasets (and other common ones), by
#: ISO 639-3 code (the dominant script of the standard written language, as in their Wikipedias)
SCRIPTS = {
    "ara": "Arabic", "urd": "Arabic", "fas": "Arabic", "pes": "Arabic", "pus": "Arabic", "uig": "Arabic",
    "bul": "Cyrillic", "rus": "Cyrillic", "ukr": "Cyrillic", "mkd": "Cyrillic", "srp": "Cyrillic",
    "kaz": "Cyrillic", "kir": "Cyrillic", "bel": "Cyrillic", "tat": "Cyrillic", "bak": "Cyrillic",
    "ell": "Greek", "heb": "Hebrew", "yid": "Hebrew", "hye": "Armenian", "kat": "Georgian",
    "hin": "Devanagari", "mar": "Devanagari", "nep": "Devanagari", "san": "Devanagari", "ben": "Bengali",
    "asm": "Bengali", "pan": "Gurmukhi", "guj": "Gujarati", "ori": "Odia", "tam": "Tamil", "tel": "Telugu",
    "kan": "Kannada", "mal": "Malayalam", "sin": "Sinhala", "tha": "Thai", "lao": "Lao", "khm": "Khmer",
    "mya": "Myanmar", "zho": "Han", "cmn": "Han", "yue": "Han", "jpn": "Japanese", "kor": "Hangul",
    "amh": "Ethiopic", "tir": "Ethiopic", "div": "Thaana", "bod": "Tibetan",
}


def script_of(code: str) -> str:
    """The writing system of a language (Latin unless listed in :data:`SCRIPTS`)."""
    return SCRIPTS.get(to_iso639_3(code) or str(code).lower(), "Latin")


@functools.lru_cache(maxsize=1)
def _cc100() -> dict[str, float]:
    from importlib import resources

    text = resources.files("xshot.resources").joinpath("cc100.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")][1:]
    return {to_iso639_3(iso) or iso: float(tokens) for iso, tokens, _ in rows}


def cc100_tokens(code: str) -> float:
    """Millions of CC-100 tokens of a language (XLM-R's pretraining data, ``resources/cc100.csv``); 0 if absent."""
    return _cc100().get(to_iso639_3(code) or str(code).lower(), 0.0)
