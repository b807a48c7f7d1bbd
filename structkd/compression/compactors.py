"""The building blocks of a compacted transformer: compacted linear maps and masked LayerNorm.

A compacted linear map keeps the teacher's ``W`` (``out x in``) and ``b`` and wraps them in two square,
identity-initialised, bias-free compactors: ``L`` (``in x in``, the column or input-side compactor) and ``R``
(``out x out``, the row or output-side one)::

    y = R (W (L x) + b) = (R W L) x + R b

The product is formed once per call (structural re-parameterisation), not per token, so a batch of ``T``
tokens costs one ``out x in`` map plus ``out x in x (in + out)`` for the product.  Given the kept input and
output dimensions ``S_in`` and ``S_out``, the *narrowed* map is ``R[S_out, :] W L[:, S_in]`` with bias
``R[S_out, :] b``: the map of the model pruned to its kept dimensions (the masked map's non-zero block), which
the target-width model trains and evaluates with and :meth:`CompactedLinear.narrowed` gives ``merge``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CompactedLinear(nn.Module):
    """``y = R (W (L x) + b)`` with identity-initialised ``L`` (``left``) and ``R`` (``right``).

    ``forward(x)`` (``(..., in)`` -> ``(..., out)``) uses the whole compactors; ``forward(x, kept_in, kept_out)``
    (``(..., |S_in|)`` -> ``(..., |S_out|)``, index vectors) the narrowed map of the module docstring.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(linear.bias.detach().clone())
        self.left = nn.Parameter(torch.eye(weight.shape[1], dtype=weight.dtype, device=weight.device))
        self.right = nn.Parameter(torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device))
        self.register_buffer("absorbed", torch.zeros((), dtype=torch.bool, device=weight.device))

    def forward(self, x: torch.Tensor, kept_in: torch.Tensor | None = None,
                kept_out: torch.Tensor | None = None) -> torch.Tensor:
        if kept_in is None:
            return F.linear(x, self.right @ self.weight @ self.left, self.right @ self.bias)
        return F.linear(x, *self.narrowed(kept_in, kept_out))

    def narrowed(self, kept_in: torch.Tensor, kept_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The dense ``(R[S_out, :] W L[:, S_in], R[S_out, :] b)`` of the kept index vectors ``S_in``, ``S_out``
        (the product in the cheapest order: ``torch.linalg.multi_dot``; once :meth:`absorb` ran, the compactors are
        identities and the kept block of ``W`` is read directly)."""
        if self.absorbed:
            return self.weight[kept_out][:, kept_in], self.bias[kept_out]
        right = self.right[kept_out]
        return torch.linalg.multi_dot([right, self.weight, self.left[:, kept_in]]), right @ self.bias

    @torch.no_grad()
    def absorb(self) -> None:
        """Multiply the compactors into the weights, ``W <- R W L``, ``b <- R b``, ``L = R = I``: the same map,
        whose narrowed form then costs no product."""
        self.weight.copy_(self.right @ self.weight @ self.left)
        self.bias.copy_(self.right @ self.bias)
        for compactor in (self.left, self.right):
            set_identity(compactor)
        self.absorbed.fill_(True)


@torch.no_grad()
def set_identity(compactor: torch.Tensor) -> None:
    """Make the square ``compactor`` the identity, in place."""
    compactor.copy_(torch.eye(len(compactor), dtype=compactor.dtype, device=compactor.device))


class MaskedLayerNorm(nn.Module):
    """A LayerNorm whose statistics cover the kept dimensions only (a copy of ``norm``'s weight, bias, eps).

    ``forward(x, keep)`` on ``(..., H)`` ``x`` and an ``(H,)`` bool mask: ``(x - mean) / sqrt(var + eps)
    * weight + bias`` with the mean and the biased variance over ``keep`` (with every dimension kept, this is
    ``torch.nn.functional.layer_norm``).  ``forward(x, kept=S)`` on ``(..., |S|)`` ``x`` (the kept dimensions
    alone, an index vector ``S``) is the LayerNorm of those dimensions, whose weight and bias :meth:`narrowed`
    gives ``merge``."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.weight = nn.Parameter(norm.weight.detach().clone())
        self.bias = nn.Parameter(norm.bias.detach().clone())
        self.eps = norm.eps

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None,
                kept: torch.Tensor | None = None) -> torch.Tensor:
        if kept is not None:
            return F.layer_norm(x, x.shape[-1:], *self.narrowed(kept), self.eps)
        mask = keep.to(x.dtype)
        count = mask.sum()
        mean = (x * mask).sum(-1, keepdim=True) / count
        centred = x - mean
        var = (centred.square() * mask).sum(-1, keepdim=True) / count
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias

    def narrowed(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias of the kept index vector ``kept``."""
        return self.weight[kept], self.bias[kept]
