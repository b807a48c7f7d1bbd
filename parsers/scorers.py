"""The parser's scoring layers: an MLP, a biaffine scorer (arcs, labels) and a triaffine one (siblings).

Word vectors ``(B, S, D)`` go through role-specific MLPs (dependent, head, sibling) and then through a
bi- or tri-linear form.  A bias feature 1 is appended to a role's vector where the form has a bias on
that side (``[x; 1]``), which adds the lower-order terms: with a bias on the dependent side only, the
arc score ``[d; 1]^T W h = d^T W' h + w^T h`` gets Dozat & Manning's head prior ``w^T h``.
"""
from __future__ import annotations

import torch
from torch import nn


def with_bias(x: torch.Tensor) -> torch.Tensor:
    """``(..., D)`` -> ``(..., D + 1)``: ``[x; 1]``."""
    return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], -1)


class MLP(nn.Module):
    """``(..., D) -> (..., size)``: ``dropout(LeakyReLU_0.1(W x + b))``."""

    def __init__(self, input_size: int, size: int, dropout: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(input_size, size)
        self.activation = nn.LeakyReLU(0.1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.linear(x)))


class Biaffine(nn.Module):
    """``(B, S, X)`` and ``(B, S, Y)`` -> ``(B, S, S, outputs)`` scores

        s[b, i, j, o] = [x_i; 1]^T W_o [y_j; 1]     (each ``; 1`` only with ``bias_x`` / ``bias_y``)

    ``W`` has shape ``(outputs, X + bias_x, Y + bias_y)``, drawn from ``N(0, 1 / (X Y))`` so that the
    scores of unit-scale inputs start at unit scale.
    """

    def __init__(self, x_size: int, y_size: int, outputs: int = 1, bias_x: bool = True, bias_y: bool = True):
        super().__init__()
        self.bias_x, self.bias_y = bias_x, bias_y
        shape = (outputs, x_size + bias_x, y_size + bias_y)
        self.weight = nn.Parameter(torch.randn(shape) / (x_size * y_size) ** 0.5)

    def _biased(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` and ``y`` with the bias feature appended on the sides that have one."""
        return (with_bias(x) if self.bias_x else x), (with_bias(y) if self.bias_y else y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self._biased(x, y)
        xw = torch.matmul(x.unsqueeze(1), self.weight)  # (B, O, S, Y)
        return torch.matmul(xw, y.unsqueeze(1).transpose(-1, -2)).permute(0, 2, 3, 1)  # (B, S, S, O)

    def aligned(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B, S, X)`` and ``(B, S, Y)`` -> ``(B, S, outputs)``: the scores of the pairs ``(x_i, y_i)`` only,
        ``s[b, i, o] = [x_i; 1]^T W_o [y_i; 1]``, the diagonal of :meth:`forward` at a cost ``S`` times lower.

        Both are written as matrix products rather than einsums: onnxruntime's Einsum is several times slower than
        its MatMul on these shapes (benchmarks/results/onnx.md)."""
        x, y = self._biased(x, y)
        outputs, size = self.weight.shape[0], self.weight.shape[-1]
        xw = torch.matmul(x, self.weight.transpose(0, 1).reshape(x.shape[-1], outputs * size))  # (B, S, O * Y)
        return (xw.unflatten(-1, (outputs, size)) * y.unsqueeze(-2)).sum(-1)


class Triaffine(nn.Module):
    """Sibling scores (Wang & Tu 2020): ``(B, S, D)`` head, dependent and sibling vectors -> ``(B, S, S, S)``

        sib[b, h, m, s] = sum_{i, j, k} [m_m; 1]_i [s_s; 1]_j h_h[k] W[i, j, k]

    ``W`` of shape ``(D + 1, D + 1, D)``, drawn from ``N(0, 1 / D^3)``.
    """

    def __init__(self, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(size + 1, size + 1, size) / size ** 1.5)

    def forward(self, heads: torch.Tensor, dependents: torch.Tensor, siblings: torch.Tensor) -> torch.Tensor:
        by_head = torch.einsum("bhk,ijk->bhij", heads, self.weight)  # (B, S, D+1, D+1)
        return torch.einsum("bmi,bhij,bsj->bhms", with_bias(dependents), by_head, with_bias(siblings))


class PairScorer(nn.Module):
    """Scores of every (dependent, head) pair: ``(B, S, D)`` -> ``(B, S, S, outputs)`` ``[b, dependent, head, o]``

        s[b, m, h, o] = Biaffine(MLP_dep(x_m), MLP_head(x_h))[o]

    ``head_bias=False`` (arcs) keeps only the dependent-side bias: the head prior of Dozat & Manning;
    ``head_bias=True`` (labels) adds a dependent prior and a constant per output as well.
    """

    def __init__(self, input_size: int, size: int, outputs: int = 1, head_bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.dependent = MLP(input_size, size, dropout)
        self.head = MLP(input_size, size, dropout)
        self.biaffine = Biaffine(size, size, outputs, bias_x=True, bias_y=head_bias)

    def roles(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S, D)`` -> the dependent-role and head-role vectors ``(B, S, size)`` each."""
        return self.dependent(x), self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.biaffine(*self.roles(x))

    def at_heads(self, dependents: torch.Tensor, heads_vectors: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """The scores of one head per dependent: role vectors from :meth:`roles` and ``(B, S)`` head indices
        -> ``(B, S, outputs)``, ``s[b, m, heads[b, m], :]`` of :meth:`forward` without the other pairs."""
        index = heads.unsqueeze(-1).expand(*heads.shape, heads_vectors.shape[-1])
        return self.biaffine.aligned(dependents, heads_vectors.gather(1, index))


class SiblingScorer(nn.Module):
    """Sibling scores: ``(B, S, D)`` -> ``(B, S, S, S)`` ``[b, head, m, s]``, a :class:`Triaffine` over
    head, dependent and sibling MLPs."""

    def __init__(self, input_size: int, size: int, dropout: float = 0.0):
        super().__init__()
        self.head = MLP(input_size, size, dropout)
        self.dependent = MLP(input_size, size, dropout)
        self.sibling = MLP(input_size, size, dropout)
        self.triaffine = Triaffine(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.triaffine(self.head(x), self.dependent(x), self.sibling(x))
