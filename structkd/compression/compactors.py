"""The building blocks of a compacted transformer: compacted linear maps and masked LayerNorm.

A compacted linear map keeps the teacher's ``W`` (``out x in``) and ``b`` and wraps them in two square,
identity-initialised, bias-free compactors: ``L`` (``in x in``, the column or input-side compactor) and ``R``
(``out x out``, the row or output-side one)::

    y = R (W (L x) + b) = (R W L) x + R b

The product is formed once per call (structural re-parameterisation), not per token, so a batch of ``T``
tokens costs one ``out x in`` map plus ``out x in x (in + out)`` for the product.  Given keep masks over the
input (``m_in``) and output (``m_out``) dimensions, the *hard* map zeroes ``L``'s pruned columns and ``R``'s
pruned rows; it equals the dense map ``R[S_out, :] W L[:, S_in]`` on the kept dimensions and gives 0 on the
pruned outputs, which is what :meth:`CompactedLinear.merged` writes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CompactedLinear(nn.Module):
    """``y = R (W (L x) + b)`` with identity-initialised ``L`` (``left``) and ``R`` (``right``).

    ``forward(x)`` (training) uses the whole compactors; ``forward(x, keep_in, keep_out)`` (``(in,)`` and
    ``(out,)`` bool masks) the hard map described in the module docstring.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(linear.bias.detach().clone())
        self.left = nn.Parameter(torch.eye(weight.shape[1], dtype=weight.dtype, device=weight.device))
        self.right = nn.Parameter(torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device))

    def effective(self, keep_in: torch.Tensor | None = None,
                  keep_out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R W L, R b)``, with ``L``'s columns off ``keep_in`` and ``R``'s rows off ``keep_out`` zeroed."""
        left = self.left if keep_in is None else self.left * keep_in
        right = self.right if keep_out is None else self.right * keep_out.unsqueeze(-1)
        return right @ self.weight @ left, right @ self.bias

    def forward(self, x: torch.Tensor, keep_in: torch.Tensor | None = None,
                keep_out: torch.Tensor | None = None) -> torch.Tensor:
        return F.linear(x, *self.effective(keep_in, keep_out))

    def merged(self, kept_in: torch.Tensor, kept_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The dense ``(R[S_out, :] W L[:, S_in], R[S_out, :] b)`` of the kept index vectors ``S_in``, ``S_out``."""
        right = self.right[kept_out]
        return right @ self.weight @ self.left[:, kept_in], right @ self.bias


class MaskedLayerNorm(nn.Module):
    """A LayerNorm whose statistics cover the kept dimensions only (a copy of ``norm``'s weight, bias, eps).

    ``forward(x, keep, hard)`` on ``(..., H)`` ``x`` and an ``(H,)`` bool mask: ``(x - mean) / sqrt(var + eps)
    * weight + bias`` with the mean and the biased variance over ``keep``, and the pruned outputs set to 0
    when ``hard``.  With every dimension kept this is ``torch.nn.functional.layer_norm``; with ``hard`` it is
    the LayerNorm of the kept dimensions alone, which :meth:`merged` writes."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.weight = nn.Parameter(norm.weight.detach().clone())
        self.bias = nn.Parameter(norm.bias.detach().clone())
        self.eps = norm.eps

    def forward(self, x: torch.Tensor, keep: torch.Tensor, hard: bool = False) -> torch.Tensor:
        kept = keep.to(x.dtype)
        count = kept.sum()
        mean = (x * kept).sum(-1, keepdim=True) / count
        centred = x - mean
        var = (centred.square() * kept).sum(-1, keepdim=True) / count
        y = centred * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y * kept if hard else y

    def merged(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias of the kept index vector ``kept``."""
        return self.weight[kept], self.bias[kept]
