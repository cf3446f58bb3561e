"""Entity-type mismatches between a source and a target NER dataset, and what to do about them.

WikiANN and CoNLL-2002 have no DATE; MasakhaNER has. A model trained on the former can never
predict DATE, so scores on the latter must say how that was handled: evaluate on the shared
types (everything else becomes O in gold and predictions), or map types explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from xshot.data.tags import entity_type, is_entity_type
from xshot.errors import XshotError


def relabel(tags: Sequence[str], mapping: Mapping[str, str]) -> tuple[str, ...]:
    """Rename entity types in IOB2 tags; a type mapped to ``"O"`` disappears, unmapped types stay."""
    out = []
    for tag in tags:
        kind = entity_type(tag)
        new = mapping.get(kind, kind) if kind else "O"
        out.append("O" if new == "O" else f"{tag[:2]}{new}")
    return tuple(out)


@dataclass(frozen=True)
class LabelPolicy:
    """How gold and predicted tags are rewritten before NER scoring."""

    name: str  # "shared", "source" or "map"
    source: tuple[str, ...]
    target: tuple[str, ...]
    mapping: Mapping[str, str]  # entity type -> type or "O"; types not listed are kept

    @property
    def evaluated(self) -> tuple[str, ...]:
        """The types scores are computed on, after the mapping."""
        kept = {self.mapping.get(t, t) for t in (*self.source, *self.target)}
        return tuple(sorted(kept - {"O"}))

    def apply(self, sequences: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
        """Rewrite gold or predicted tag sequences (the same rule for both)."""
        return [relabel(tags, self.mapping) for tags in sequences]

    def report(self) -> str:
        """One line for logs and result notes, e.g. 'target has DATE which source lacks; ...'."""
        target_only = sorted(set(self.target) - set(self.source))
        source_only = sorted(set(self.source) - set(self.target))
        parts = [f"target has {', '.join(target_only)} which source lacks"] if target_only else []
        parts += [f"source has {', '.join(source_only)} which target lacks"] if source_only else []
        if not parts:
            parts.append("source and target have the same entity types")
        if self.name == "map":
            parts.append("mapping " + (", ".join(f"{t}→{m}" for t, m in sorted(self.mapping.items())) or "nothing"))
        types = ", ".join(self.evaluated) or "(none)"
        parts.append(f"evaluating on {'shared ' if self.name == 'shared' else ''}types {types}")
        return "; ".join(parts)


def resolve_policy(
    source: Sequence[str], target: Sequence[str], policy: str | Mapping[str, str] = "shared"
) -> LabelPolicy:
    """Turn a policy into a tag mapping.

    ``"shared"``: types outside source ∩ target become O; ``"source"``: target types the source
    lacks become O (source-only predictions still count as errors); a dict: that explicit mapping.
    """
    source_set, target_set = set(source), set(target)
    if isinstance(policy, Mapping):
        bad = [m for m in policy.values() if m != "O" and not is_entity_type(m)]
        if bad:
            raise XshotError(f"label map targets must be an entity type or 'O', got {bad[0]!r}")
        return LabelPolicy("map", tuple(source), tuple(target), dict(policy))
    if policy == "shared":
        dropped = source_set ^ target_set
    elif policy == "source":
        dropped = target_set - source_set
    else:
        raise XshotError(
            f"unknown label policy {policy!r} (expected 'shared', 'source' or a mapping like {{'MISC': 'O'}})"
        )
    return LabelPolicy(policy, tuple(source), tuple(target), {t: "O" for t in sorted(dropped)})
