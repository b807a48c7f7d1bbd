"""Maximum spanning arborescences for torch scores: Chu-Liu-Edmonds decoding of non-projective dependency trees
(:func:`structkd.decoders.mst` on NumPy arrays; see :mod:`structkd.decoders.trees` for the algorithm and the
single-root constraint)."""
from __future__ import annotations

import torch

from .. import decoders


def mst(scores: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B, N+1, N+1)`` arc scores ``[b, m, h]``, ``(B,)`` lengths -> ``(B, N+1)`` best heads (on the scores'
    device).

    Cells outside ``1 <= m <= len, 0 <= h <= len, h != m`` are ignored.  ``multiroot=False`` returns the
    best tree with exactly one root child.  Not differentiable (the scores are detached).
    """
    heads = decoders.mst(scores.detach().cpu().double().numpy(), lengths.cpu().numpy(), multiroot)  # any float dtype
    return torch.from_numpy(heads).to(scores.device)


def is_tree(heads: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B,)`` bool: whether each ``(B, N+1)`` head vector is a tree (:func:`structkd.decoders.is_tree`)."""
    return torch.from_numpy(decoders.is_tree(heads.cpu().numpy(), lengths.cpu().numpy(), multiroot)).to(heads.device)
