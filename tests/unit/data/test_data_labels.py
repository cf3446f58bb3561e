from __future__ import annotations

import pytest

from xshot.data.labels import relabel, resolve_policy
from xshot.errors import XshotError

SOURCE = ("LOC", "ORG", "PER")  # WikiANN / CoNLL-2002
TARGET = ("DATE", "LOC", "ORG", "PER")  # MasakhaNER


def test_shared_policy_maps_other_types_to_o_in_gold_and_predictions() -> None:
    policy = resolve_policy(SOURCE, TARGET, "shared")
    gold = [("B-PER", "I-PER", "O", "B-DATE", "I-DATE")]
    assert policy.apply(gold) == [("B-PER", "I-PER", "O", "O", "O")]
    assert policy.evaluated == ("LOC", "ORG", "PER")


def test_shared_policy_drops_source_only_types_from_predictions() -> None:
    policy = resolve_policy(("LOC", "MISC", "ORG", "PER"), TARGET, "shared")
    assert policy.apply([("B-MISC", "I-MISC", "B-LOC")]) == [("O", "O", "B-LOC")]


def test_report_is_one_readable_line() -> None:
    report = resolve_policy(SOURCE, TARGET, "shared").report()
    assert report == "target has DATE which source lacks; evaluating on shared types LOC, ORG, PER"
    both = resolve_policy(("LOC", "MISC", "PER"), ("DATE", "LOC", "PER"), "shared").report()
    assert (
        both
        == "target has DATE which source lacks; source has MISC which target lacks; evaluating on shared types LOC, PER"
    )
    same = resolve_policy(SOURCE, SOURCE).report()
    assert same == "source and target have the same entity types; evaluating on shared types LOC, ORG, PER"


def test_explicit_mapping() -> None:
    policy = resolve_policy(("LOC", "MISC", "ORG", "PER"), SOURCE, {"MISC": "O"})
    assert policy.apply([("B-MISC", "B-ORG")]) == [("O", "B-ORG")]
    assert policy.evaluated == ("LOC", "ORG", "PER")
    assert policy.report() == "source has MISC which target lacks; mapping MISC→O; evaluating on types LOC, ORG, PER"


def test_mapping_can_rename_types() -> None:
    policy = resolve_policy(("LOC", "PERSON"), ("LOC", "PER"), {"PERSON": "PER"})
    assert policy.apply([("B-PERSON", "I-PERSON", "O")]) == [("B-PER", "I-PER", "O")]
    assert policy.evaluated == ("LOC", "PER")


def test_source_policy_keeps_source_only_types() -> None:
    policy = resolve_policy(("LOC", "MISC"), ("DATE", "LOC"), "source")
    assert policy.apply([("B-MISC", "B-DATE", "B-LOC")]) == [("B-MISC", "O", "B-LOC")]
    assert policy.evaluated == ("LOC", "MISC")


@pytest.mark.parametrize("policy", ["union", {"MISC": "b-misc"}])
def test_bad_policies(policy: object) -> None:
    with pytest.raises(XshotError):
        resolve_policy(SOURCE, TARGET, policy)  # type: ignore[arg-type]


def test_relabel_leaves_unmapped_types() -> None:
    assert relabel(("B-PER", "O", "I-LOC"), {"DATE": "O"}) == ("B-PER", "O", "I-LOC")
