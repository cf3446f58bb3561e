"""Language-code normalisation and the (overridable) high-resource list."""

import pytest

from xshot.reporting.languages import HIGH_RESOURCE_LANGUAGES, is_low_resource, to_iso639_3


@pytest.mark.parametrize(
    "code, iso",
    [("sw", "swa"), ("SW", "swa"), ("swa", "swa"), ("swh", "swa"), ("en", "eng"), ("en-US", "eng"),
     ("zh_CN", "zho"), ("hau", "hau"), ("yor", "yor"), ("ur", "urd"), ("ger", "deu"), ("pcm", "pcm")],
)  # fmt: skip
def test_to_iso639_3(code, iso):
    assert to_iso639_3(code) == iso


@pytest.mark.parametrize("code", ["", "english", "x", "12", None, "qq"])
def test_to_iso639_3_rejects_non_codes(code):
    assert to_iso639_3(code) is None


def test_low_resource_split_default_and_override():
    assert {"eng", "deu", "fra", "spa", "zho", "rus", "ara", "nld"} <= HIGH_RESOURCE_LANGUAGES
    assert not is_low_resource("de") and not is_low_resource("deu")
    assert is_low_resource("sw") and is_low_resource("swa") and is_low_resource("yor") and is_low_resource("ur")
    assert not is_low_resource("sw", high_resource=["swa", "en"])
    assert is_low_resource("de", high_resource=["en"])
