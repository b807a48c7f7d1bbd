"""Tag schemes (BIO = IOB2, BIOES) and the transition constraints they imply for a CRF."""
from __future__ import annotations

from typing import Sequence

import torch

PREFIXES = ("B", "I", "E", "S")


def parse_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``; raises ValueError on anything else."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in PREFIXES or not kind:
        raise ValueError(f"not a BIO/BIOES tag: {tag!r} (expected 'O' or one of B-, I-, E-, S- and a type)")
    return prefix, kind


def detect_scheme(tags: Sequence[str]) -> str:
    """``"BIOES"`` if any tag has an E- or S- prefix, else ``"BIO"``."""
    return "BIOES" if any(parse_tag(t)[0] in ("E", "S") for t in tags) else "BIO"


def entity_types(tags: Sequence[str]) -> list[str]:
    """The entity types of a tag list, in order of first appearance."""
    seen: dict[str, None] = {}
    for t in tags:
        kind = parse_tag(t)[1]
        if kind is not None:
            seen.setdefault(kind)
    return list(seen)


def _can_follow(prev: tuple[str, str | None], cur: tuple[str, str | None], scheme: str) -> bool:
    (pp, pk), (cp, ck) = prev, cur
    inside_prev = pp in ("B", "I")  # an entity is open after prev
    if cp in ("I", "E"):
        return inside_prev and pk == ck
    # O, B or S start fresh: allowed unless BIOES requires the open entity to be closed by E
    return not (scheme == "BIOES" and inside_prev)


def allowed_transitions(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which transitions the scheme of ``tags`` allows.

    Returns bool tensors ``start (C,)``, ``transitions (C, C)`` (``[prev, cur]``) and ``end (C,)``.
    """
    scheme = detect_scheme(tags)
    parsed = [parse_tag(t) for t in tags]
    trans = torch.tensor([[_can_follow(p, c, scheme) for c in parsed] for p in parsed], dtype=torch.bool)
    start = torch.tensor([_can_follow(("O", None), c, scheme) for c in parsed], dtype=torch.bool)
    end = torch.tensor([not (scheme == "BIOES" and p in ("B", "I")) for p, _ in parsed], dtype=torch.bool)
    return start, trans, end


def constraint_scores(tags: Sequence[str], dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The constraints of :func:`allowed_transitions` as additive scores: 0 where allowed, -inf where not.

    Add them to a CRF's ``start``, ``transitions`` and ``end`` (see ``LinearChainCRF.from_emissions``).
    """
    def to_scores(mask):
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, float("-inf"))

    return tuple(to_scores(m) for m in allowed_transitions(tags))
