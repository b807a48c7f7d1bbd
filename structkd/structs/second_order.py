"""Second-order (sibling) dependency model with mean-field arc marginals (Wang & Tu, 2020).

Each word ``m`` in ``1..n`` picks a head ``h_m`` in ``0..n``, ``h_m != m``.  The score adds, to the
first-order arcs, a term for every ordered pair of distinct words that share a head (siblings):

    Score(h) = sum_m arc[m, h_m] + sum_{m != s, h_m = h_s} sib[h_m, m, s]

with ``arc`` of shape ``(B, N+1, N+1)`` indexed ``[b, m, h]`` and ``sib`` of shape
``(B, N+1, N+1, N+1)`` indexed ``[b, h, m, s]``.  Exact marginals are intractable in general; mean-field
variational inference approximates ``p`` by ``prod_m q_m(h_m)`` and iterates

    log q_m(h) = arc[m, h] + sum_{s != m} q_s(h) * (sib[h, m, s] + sib[h, s, m]) + const

from ``q = softmax(arc)``.  The result ``q[b, m, h]`` plays the role of the arc marginals (the teacher of
scenario 2b); decoding runs the maximum spanning tree on ``log q``.
"""
from __future__ import annotations

from functools import cached_property

import torch

from .base import FORBIDDEN
from .local import head_mask, heads_to_arcs
from .mst import mst


class SiblingMeanField:
    """Mean-field second-order sibling model.

    Args:
        arc_scores: ``(B, N+1, N+1)`` ``[b, m, h]``.
        sib_scores: ``(B, N+1, N+1, N+1)`` ``[b, h, m, s]``.
        lengths: ``(B,)`` number of words.
        iterations: mean-field updates after the first-order initialisation (SuPar uses 3).
        multiroot: whether ``decode`` may attach several words to the root.
    """

    def __init__(self, arc_scores, sib_scores, lengths=None, iterations: int = 3, multiroot: bool = False):
        batch, n1, _ = arc_scores.shape
        if sib_scores.shape != (batch, n1, n1, n1):
            raise ValueError(
                f"SiblingMeanField: sib_scores must have shape {(batch, n1, n1, n1)}, got {tuple(sib_scores.shape)}"
            )
        if lengths is None:
            lengths = torch.full((batch,), n1 - 1, dtype=torch.long, device=arc_scores.device)
        self.arc_scores, self.sib_scores, self.lengths = arc_scores, sib_scores, lengths
        self.iterations, self.multiroot = iterations, multiroot
        self.labels = None

    def tempered(self, temperature: float) -> "SiblingMeanField":
        """The model with arc and sibling scores divided by ``temperature``."""
        if temperature == 1:
            return self
        return SiblingMeanField(self.arc_scores / temperature, self.sib_scores / temperature, self.lengths,
                                self.iterations, self.multiroot)

    @cached_property
    def marginals(self) -> torch.Tensor:
        """``(B, N+1, N+1)`` mean-field arc marginals ``q[b, m, h]`` (0 where no arc is possible)."""
        allowed = head_mask(self.lengths, self.arc_scores.shape[1] - 1)
        arc = self.arc_scores.masked_fill(~allowed, float("-inf"))
        # sib[h, m, s] + sib[h, s, m], zero unless m and s are distinct words of the sentence.
        words = allowed.any(-1)  # (B, N+1)
        positions = torch.arange(words.shape[1], device=words.device)  # (not torch.eye: it exports to no ONNX op)
        pair_ok = words.unsqueeze(-1) & words.unsqueeze(-2) & (positions.unsqueeze(-1) != positions)
        sib = (self.sib_scores + self.sib_scores.transpose(-1, -2)).masked_fill(~pair_ok.unsqueeze(1), 0.0)
        q = self._normalise(arc, allowed)
        for _ in range(self.iterations):
            # message[b, m, h] = sum_s q[b, s, h] * sib[b, h, m, s]
            message = torch.einsum("bsh,bhms->bmh", q, sib)
            q = self._normalise(arc + message, allowed)
        return q

    @staticmethod
    def _normalise(logits, allowed):
        """Per-word softmax over the allowed heads; rows without any (root, padding) become 0.

        Disallowed cells are set to a finite score first, so no row is all -inf and no gradient is NaN."""
        return logits.masked_fill(~allowed, FORBIDDEN).softmax(-1).masked_fill(~allowed, 0.0)

    def decode(self) -> torch.Tensor:
        """``(B, N+1)`` heads: the maximum spanning tree under ``log q``."""
        q = self.marginals.detach()
        return mst(q.clamp_min(torch.finfo(q.dtype).tiny).log(), self.lengths, multiroot=self.multiroot)

    def to_parts(self, heads: torch.Tensor) -> torch.Tensor:
        return heads_to_arcs(heads, self.lengths).to(self.arc_scores.dtype)

    def gold_loss(self, heads: torch.Tensor) -> torch.Tensor:
        """``(B,)`` -sum_m log q_m(gold head): the usual training loss of a mean-field parser."""
        gold = self.to_parts(heads).bool()
        return -self.marginals.clamp_min(torch.finfo(self.marginals.dtype).tiny).log().masked_fill(~gold, 0.0).flatten(1).sum(-1)
