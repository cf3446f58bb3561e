"""Linguistic distances between languages from URIEL, through the ``lang2vec`` package, offline.

The ``lang2vec`` release on PyPI (1.1.2) ships URIEL's feature vectors but not the precomputed
distance matrices (its ``distance()`` function exists only in later, unreleased versions); its
module also imports ``pkg_resources``, which setuptools >= 81 no longer provides, and its
``get_features`` takes seconds per call. So the vectors are read from the ``.npz`` tables in
lang2vec's data directory (the values ``get_features`` returns) and the distances are computed
here, following URIEL's definitions (Littell et al., 2017):

- ``syntactic``: cosine distance between the ``syntax_knn`` vectors (WALS, SSWL and Ethnologue
  syntax features, gaps filled by URIEL's k-nearest-neighbour predictions);
- ``phonological``: cosine distance between the ``phonology_knn`` vectors;
- ``genetic``: 1 - (Glottolog family nodes shared) / (nodes on the longer of the two paths from
  the root), from the ``fam`` membership vectors: 0 for the same language, 1 for languages with no
  common ancestor;
- ``geographic``: great-circle distance divided by half the earth's circumference (so in [0, 1]).
  URIEL's ``geo`` vector holds, for 299 fixed points on the globe, the great-circle distance from
  the language's location to each point divided by half the circumference; the location is
  recovered from those 299 numbers by least squares.

All four are in [0, 1]. Codes may be ISO 639-1 or 639-3 (see :mod:`xshot.reporting.languages`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable

import numpy as np

from xshot.errors import XshotError
from xshot.reporting.languages import to_iso639_3

DISTANCE_KINDS: tuple[str, ...] = ("syntactic", "genetic", "geographic", "phonological")

_FEATURE_SET = {"syntactic": "syntax_knn", "phonological": "phonology_knn", "genetic": "fam", "geographic": "geo"}

EARTH_RADIUS_KM = 6371.0088


# feature set -> (file in lang2vec's data directory, source name, feature-name prefix), as lang2vec
# defines them in FEATURE_SETS_DICT.
_FILES = {
    "syntax_knn": ("feature_predictions.npz", "predicted", "S_"),
    "phonology_knn": ("feature_predictions.npz", "predicted", "P_"),
    "fam": ("family_features.npz", "FAM", "F_"),
    "geo": ("geocoord_features.npz", "GEOCOORDS", "GC_"),
}


def _data_dir() -> str:
    """lang2vec's data folder, found through its installed distribution: the package also installs a
    ``lang2vec.py`` script next to the console scripts, which shadows the package on ``sys.path``."""
    from importlib import metadata

    try:
        folder = metadata.distribution("lang2vec").locate_file("lang2vec/data")
    except metadata.PackageNotFoundError:
        raise XshotError("the lang2vec package is not installed (pip install lang2vec)") from None
    return str(folder)


@functools.cache
def _npz(filename: str) -> dict[str, np.ndarray]:
    with np.load(os.path.join(_data_dir(), filename)) as db:
        return {k: db[k] for k in ("langs", "feats", "sources", "data")}


@functools.cache
def _table(feature_set: str) -> tuple[dict[str, int], tuple[str, ...], np.ndarray, np.ndarray, int]:
    """(language -> row, feature names, raw data, column mask, source index) of a feature set.

    Read straight from the ``.npz`` files lang2vec ships (its ``get_features`` re-reads the arrays
    for every feature and language).
    """
    filename, source, prefix = _FILES[feature_set]
    db = _npz(filename)
    cols = np.char.startswith(db["feats"].astype(str), prefix)
    src = int(np.where(db["sources"] == source)[0][0])
    names = tuple(str(f) for f in db["feats"][cols])
    return {str(lang): i for i, lang in enumerate(db["langs"])}, names, db["data"], cols, src


def uriel_code(code: str) -> str:
    """The ISO 639-3 code URIEL knows ``code`` by; XshotError if URIEL has no entry for it."""
    iso = to_iso639_3(code)
    if iso is None or iso not in _table("geo")[0]:
        raise XshotError(f"language {code!r} is not in the URIEL database (lang2vec)")
    return iso


def features(feature_set: str, code: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(feature names, vector) of a language in a URIEL feature set (NaN where unknown)."""
    index, names, data, cols, src = _table(feature_set)
    vec = data[index[uriel_code(code)], cols, src].astype(float)
    vec[vec == -1.0] = np.nan
    return names, vec


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    mask = ~(np.isnan(a) | np.isnan(b))
    a, b = a[mask], b[mask]
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return math.nan
    return float(min(1.0, max(0.0, 1.0 - float(a @ b) / (na * nb))))


def _great_circle(lat1, lon1, lat2, lon2):
    """Central angle in radians (haversine); arguments in degrees, numpy-broadcastable."""
    lat1, lon1, lat2, lon2 = (np.radians(x) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@functools.cache
def coordinates(code: str) -> tuple[float, float]:
    """(latitude, longitude) in degrees of a language, recovered from its URIEL ``geo`` vector."""
    from scipy.optimize import least_squares

    names, vec = features("geo", code)
    pts = np.array([[float(x) for x in n.split("_")[1:3]] for n in names])  # GC_<lat>_<lon>
    ok = ~np.isnan(vec)
    if ok.sum() < 3:
        raise XshotError(f"language {code!r} has no geographic coordinates in URIEL")
    pts, target = pts[ok], vec[ok]
    # The feature is (distance to the point) / pi, so the smallest value marks the nearest of
    # the 299 points (at most ~10 degrees away): start the least-squares fit there.
    start = pts[int(np.argmin(target))]

    def residuals(p):
        return _great_circle(p[0], p[1], pts[:, 0], pts[:, 1]) / math.pi - target

    fit = least_squares(residuals, x0=start, bounds=([-90, -540], [90, 540]))
    la, lo = float(fit.x[0]), float((fit.x[1] + 180.0) % 360.0 - 180.0)
    return la, lo


def geographic_km(l1: str, l2: str) -> float:
    """Great-circle distance in kilometres between the URIEL locations of two languages."""
    a, b = coordinates(l1), coordinates(l2)
    return float(_great_circle(a[0], a[1], b[0], b[1]) * EARTH_RADIUS_KM)


def distance(kind: str, l1: str, l2: str) -> float:
    """URIEL distance of ``kind`` (one of :data:`DISTANCE_KINDS`) between two languages, in [0, 1].

    Raises XshotError for an unknown kind or a language URIEL does not know; returns NaN when
    URIEL has no usable features of that kind for one of the languages.
    """
    if kind not in _FEATURE_SET:
        raise XshotError(f"unknown distance kind {kind!r} (expected one of {', '.join(DISTANCE_KINDS)})")
    a, b = uriel_code(l1), uriel_code(l2)
    if a == b:
        return 0.0
    if kind == "geographic":
        ca, cb = coordinates(a), coordinates(b)
        return float(_great_circle(ca[0], ca[1], cb[0], cb[1]) / math.pi)
    _, va = features(_FEATURE_SET[kind], a)
    _, vb = features(_FEATURE_SET[kind], b)
    if kind == "genetic":
        fa, fb = np.nan_to_num(va) > 0.5, np.nan_to_num(vb) > 0.5
        depth = max(int(fa.sum()), int(fb.sum()))
        if depth == 0:
            return 1.0
        return float(1.0 - (fa & fb).sum() / depth)
    return _cosine_distance(va, vb)


def distances(
    source: str, targets: Iterable[str], kinds: Iterable[str] = DISTANCE_KINDS
) -> dict[str, dict[str, float]]:
    """``{target: {kind: distance}}`` from ``source``; NaN where URIEL lacks a language."""
    targets = list(dict.fromkeys(targets))
    kinds = list(kinds)
    out: dict[str, dict[str, float]] = {}
    for t in targets:
        row = {}
        for k in kinds:
            try:
                row[k] = distance(k, source, t)
            except XshotError:
                if k not in _FEATURE_SET:
                    raise
                row[k] = math.nan
        out[t] = row
    return out
