"""When and what a compacted transformer prunes: the mask schedule and the choice of the pruned units.

Every ``interval`` steps the masks are recomputed from scratch (not monotonically) from the compactor norms.
A width group that must lose ``K`` units (dimensions, dimensions per head, or heads) prunes

    k(t) = min(K, floor(floor(t / interval) * K / ramp))

of them at step ``t`` (1-based), the lowest-scoring ones: nothing before the first update, the whole ``K``
after ``ramp`` updates (``t >= ramp * interval``).  The reference WID code ramps the residual and FFN widths
over 16 updates, cuts inside heads over 8 and drops one head every two updates; one formula serves all here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MaskSchedule:
    """``interval``: steps between mask updates; ``ramp``: updates until the target widths are reached."""

    interval: int = 20
    ramp: int = 16

    def __post_init__(self):
        if self.interval < 1 or self.ramp < 1:
            raise ValueError(f"the mask interval and ramp must be >= 1, got {self.interval} and {self.ramp}")

    def pruned(self, step: int, total: int) -> int:
        """``k(step)`` of a group that must lose ``total`` units (see the module docstring)."""
        return min(total, (step // self.interval) * total // self.ramp)

    def updates_at(self, step: int) -> bool:
        """Whether the masks are recomputed at ``step``."""
        return step % self.interval == 0

    @property
    def target_step(self) -> int:
        """The first step at which every group is at its target width."""
        return self.ramp * self.interval


def keep_highest(scores: torch.Tensor, pruned: int) -> torch.Tensor:
    """A bool mask of ``scores`` (``(..., D)``) with the ``pruned`` lowest entries of each row off (ties: the
    first index is pruned first)."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    if pruned:
        lowest = torch.argsort(scores, dim=-1, stable=True)[..., :pruned]
        keep.scatter_(-1, lowest, False)
    return keep


def head_mask(scores: torch.Tensor, heads: int, pruned: int, strategy: str) -> torch.Tensor:
    """The ``(heads * d,)`` keep mask of an attention width scored per dimension by ``scores``.

    ``strategy`` "dim": ``pruned`` dimensions cut inside every head (each keeps its ``d - pruned`` best);
    "head": the ``pruned`` heads of lowest total score dropped whole."""
    per_head = scores.reshape(heads, -1)
    if strategy == "dim":
        return keep_highest(per_head, pruned).reshape(-1)
    if strategy == "head":
        return keep_highest(per_head.sum(-1), pruned).repeat_interleave(per_head.shape[1])
    raise ValueError(f"unknown attention strategy {strategy!r}; choose dim or head")
