"""The transition constraints of a BIO / BIOES tag set as tensors, for a linear-chain CRF over its tags."""
from __future__ import annotations

from typing import Sequence

import torch

from .schemes import transition_table


def allowed_transitions(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which transitions the scheme of ``tags`` allows (:func:`structkd.schemes.transition_table`).

    Returns bool tensors ``start (C,)``, ``transitions (C, C)`` (``[prev, cur]``) and ``end (C,)``.
    """
    return tuple(torch.tensor(table, dtype=torch.bool) for table in transition_table(tags))


def constraint_scores(tags: Sequence[str], dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The constraints of :func:`allowed_transitions` as additive scores: 0 where allowed, -inf where not.

    Add them to a CRF's ``start``, ``transitions`` and ``end`` (see ``LinearChainCRF.from_emissions``).
    """
    def to_scores(mask):
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, float("-inf"))

    return tuple(to_scores(m) for m in allowed_transitions(tags))
