"""URIEL distances from the vectors lang2vec ships (real lookups, no network)."""

import math

import numpy as np
import pytest

from xshot.errors import XshotError
from xshot.reporting import uriel


def test_vectors_are_lang2vec_tables():
    names, vec = uriel.features("syntax_knn", "sw")
    assert len(names) == 103 and names[0] == "S_SVO" and vec.shape == (103,)
    assert set(np.unique(vec)) <= {0.0, 1.0}  # kNN-filled binary features, nothing missing
    names, vec = uriel.features("geo", "en")
    assert len(names) == 299 and names[0].startswith("GC_")
    # cosine distance by hand from the two syntax vectors
    a, b = uriel.features("syntax_knn", "en")[1], uriel.features("syntax_knn", "de")[1]
    assert uriel.distance("syntactic", "en", "de") == pytest.approx(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_same_language_is_at_distance_zero_and_codes_are_normalised():
    for kind in uriel.DISTANCE_KINDS:
        assert uriel.distance(kind, "en", "eng") == 0.0
        assert uriel.distance(kind, "sw", "ur") == pytest.approx(uriel.distance(kind, "swa", "urd"))


def test_genetic_distance_from_glottolog_nodes():
    # English has 9 Glottolog nodes (Indo-European > Germanic > Northwest Germanic > West Germanic >
    # North Sea Germanic > ...), German 6; they share the first 4: 1 - 4/9.
    assert uriel.distance("genetic", "en", "de") == pytest.approx(1 - 4 / 9)
    assert uriel.distance("genetic", "en", "hau") == 1.0  # Afro-Asiatic: no common ancestor
    assert uriel.distance("genetic", "en", "pcm") < uriel.distance("genetic", "en", "de")  # English creole


def test_geographic_distance_and_recovered_locations():
    lat, lon = uriel.coordinates("en")
    assert 50 < lat < 56 and -5 < lon < 2  # England
    lat, lon = uriel.coordinates("yor")
    assert 4 < lat < 14 and 2.5 < lon < 15  # Nigeria / Benin
    assert 700 < uriel.geographic_km("en", "de") < 1400
    d = {t: uriel.distance("geographic", "en", t) for t in ("fr", "de", "sw", "zh")}
    assert d["fr"] < d["de"] < d["sw"] < d["zh"] <= 1.0
    assert d["de"] == pytest.approx(uriel.geographic_km("en", "de") / (math.pi * uriel.EARTH_RADIUS_KM))


def test_syntactic_distance_orders_related_languages_first():
    assert uriel.distance("syntactic", "en", "de") < uriel.distance("syntactic", "en", "ur")
    assert uriel.distance("syntactic", "en", "de") == pytest.approx(0.0975, abs=5e-4)


def test_unknown_language_and_kind():
    with pytest.raises(XshotError, match="not in the URIEL database"):
        uriel.distance("syntactic", "en", "qqq")
    with pytest.raises(XshotError, match="unknown distance kind"):
        uriel.distance("lexical", "en", "de")
    table = uriel.distances("en", ["de", "qqq"])
    assert table["de"]["genetic"] == pytest.approx(1 - 4 / 9)
    assert all(math.isnan(v) for v in table["qqq"].values())
