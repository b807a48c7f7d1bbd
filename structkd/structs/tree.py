"""First-order (arc-factored) dependency tree CRFs: projective (Eisner) and non-projective (matrix-tree).

Potentials ``phi`` have shape ``(B, N+1, N+1)`` indexed ``[b, m, h]``: the score of the arc ``h -> m``.
Index 0 is the root; the words of sentence ``b`` are ``1..n_b`` (``n_b = lengths[b] <= N``).  Row 0, the
diagonal and every cell past ``n_b`` are ignored: they never enter a tree and their marginals are 0.

    Score(y) = sum_{m=1..n} phi[m, head_y(m)],   p(y) = exp(Score(y)) / Z,   Z = sum_{trees y} exp(Score(y))

``multiroot=False`` (the default) restricts the trees to exactly one root child; ``multiroot=True``
allows any number.  Decoded trees are head vectors ``(B, N+1)``: ``heads[b, m]`` is the head of word
``m``, ``heads[b, 0] = 0`` and padding holds 0.
"""
from __future__ import annotations

import torch
from torch.distributions.utils import lazy_property
from torch_struct.semirings import LogSemiring

from .base import DynamicProgram, Factorization, length_mask
from .local import head_mask, heads_to_arcs
from .mst import mst


# ----------------------------------------------------------------------------- projective: Eisner
class Eisner(DynamicProgram):
    """Eisner's inside algorithm over ``(ssize, B, N+1, N+1)`` potentials ``[m, h]`` in semiring operations.

    Spans ``(i, j)``, ``i < j``, of four kinds (``x`` the split point, ``1`` the semiring one)::

        I_r(i, j) = phi[j, i] (x) X(i, j)      I_l(i, j) = phi[i, j] (x) X(i, j)          (arc i->j / j->i)
        X(i, j)   = (+)_{i <= r < j} C_r(i, r) (x) C_l(r+1, j)
        C_r(i, j) = (+)_{i < r <= j} I_r(i, r) (x) C_r(r, j)      C_l(i, j) = (+)_{i <= r < j} C_l(i, r) (x) I_l(r, j)
        C_r(i, i) = C_l(i, i) = 1,   Z = C_r(0, n)

    All spans of one width ``w = j - i`` are computed at once.  Two charts hold the finished spans,
    ``left[:, t, b, i, k]`` by start ``i`` and ``right[:, t, b, j, N - k]`` by end ``j`` (``k`` the width,
    reversed so that a step reads contiguous blocks), kinds ``t`` paired so that one product and one
    semiring sum give ``X(w)`` and the ``C(w)`` terms with ``i < r < j`` together::

        left:  C_r(i, i+k),   C_l(i, i+k+1),  I_r(i, i+k+1)
        right: C_l(j-k, j),   I_l(j-k, j),    C_r(j-k, j)

    The missing ``r = i`` (``C_l``) and ``r = j`` (``C_r``) terms are ``I(i, j)`` itself, added after the
    arc scores.  Single root: ``C_r(0, r)`` is never stored for ``r > 0``, so ``X(0, j) = C_l(1, j)`` and
    the root takes exactly one child.  Ignored cells and ``-inf`` scores become the semiring zero (finite),
    so no ``-inf`` reaches a semiring sum and no gradient is NaN.
    """

    def __init__(self, semiring=LogSemiring, multiroot: bool = False):
        super().__init__(semiring)
        self.multiroot = multiroot

    def _semiring_sum(self, phi, lengths):
        sr = self.semiring
        size = phi.shape[-1]
        phi = _zero_masked(sr, phi, head_mask(lengths, size - 1))
        arcs = _arc_stripes(phi)
        left, right = _eisner_charts(sr, phi)
        first = 0 if self.multiroot else 1
        roots = []  # C_r(0, w) for every width w
        for w in range(1, size):
            n = size - w
            part = sr.sum(sr.times(left[..., :n, :w], right[..., w:, n:]))  # (s, 3, B, n): X, C_l, C_r
            inc = sr.times(part[:, :1], arcs[w - 1])  # (s, 2, B, n): I_l, I_r
            comp = sr.plus(part[:, 1:], inc)  # (s, 2, B, n): C_l, C_r
            left[:, 0, :, first:n, w] = comp[:, 1, :, first:]
            left[:, 1:, :, :n, w - 1] = torch.stack((comp[:, 0], inc[:, 1]), 1)
            right[:, :, :, w:, n - 1] = torch.stack((comp[:, 0], inc[:, 0], comp[:, 1]), 1)
            roots.append(comp[:, 1, :, 0])
        roots = torch.stack(roots, -1)  # (s, B, N)
        return roots.gather(-1, (lengths - 1).view(1, -1, 1).expand(roots.shape[0], -1, 1)).squeeze(-1)


def _zero_masked(sr, phi, allowed):
    """``phi`` with the semiring zero wherever ``allowed`` (``(B, N+1, N+1)``) is False or a score is -inf."""
    drop = ~allowed | torch.isneginf(phi).any(0)
    out = phi.masked_fill(drop.unsqueeze(0), 0.0)
    sr.zero_mask_(out, drop)
    return out


def _arc_stripes(phi):
    """The arc scores of the incomplete spans of each width, gathered once.

    ``(s, B, S, S)`` with ``S = N+1`` -> a list over ``w = 1..S-1`` of ``(s, 2, B, S - w)``:
    ``[phi[i, i+w], phi[i+w, i]]`` for ``i = 0..S-w-1`` (the arcs of ``I_l(i, i+w)`` and ``I_r(i, i+w)``).
    """
    size = phi.shape[-1]
    i = torch.arange(size, device=phi.device)
    j = (i + torch.arange(1, size, device=phi.device).unsqueeze(-1)).clamp(max=size - 1)  # (S-1, S)
    flat = torch.stack((i * size + j, j * size + i), 1)  # (S-1, 2, S)
    stripes = phi.flatten(-2)[..., flat].permute(2, 0, 3, 1, 4)  # (S-1, s, 2, B, S)
    return [stripe[..., : size - w] for w, stripe in enumerate(stripes.unbind(0), 1)]


def _eisner_charts(sr, phi):
    """The two ``(s, 3, B, S, S)`` charts of :class:`Eisner`, all zero but the width-0 complete spans."""
    ssize, batch, size = phi.shape[0], phi.shape[1], phi.shape[-1]
    left = sr.zero_(phi.new_empty(ssize, 3, batch, size, size))
    right = sr.zero_(phi.new_empty(ssize, 3, batch, size, size))
    sr.one_(left[:, 0, ..., 0])  # C_r(i, i)
    sr.one_(right[:, 0, ..., -1])  # C_l(j, j)
    sr.one_(right[:, 2, ..., -1])  # C_r(j, j)
    return left, right


# ----------------------------------------------------------------------------- non-projective: matrix-tree
class MatrixTree(DynamicProgram):
    """Log Z of non-projective trees by the matrix-tree theorem (log semiring only).

    The determinant has no semiring form, so any other semiring raises ``NotImplementedError``;
    the marginals still come from autograd through ``log Z`` (see :class:`DynamicProgram`).
    """

    def __init__(self, semiring=LogSemiring, multiroot: bool = False):
        if semiring is not LogSemiring:
            raise NotImplementedError(
                f"MatrixTree: the matrix-tree theorem has no {getattr(semiring, '__name__', semiring)} form; "
                "only the log semiring (partition, marginals) is available"
            )
        super().__init__(semiring)
        self.multiroot = multiroot

    def _semiring_sum(self, phi, lengths):
        return matrix_tree_log_partition(phi[0], lengths, self.multiroot).unsqueeze(0)


def matrix_tree_log_partition(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B,)`` exact log Z over non-projective trees (Koo et al. 2007) of ``(B, N+1, N+1)`` scores ``[m, h]``.

    With ``A[m, h] = exp(phi[m, h] - c_m)`` on the allowed arcs (0 elsewhere) and the per-word shift
    ``c_m = max_h phi[m, h]`` (every tree has one arc per word, so ``log Z = log Z(A) + sum_m c_m``),
    the ``N x N`` matrix ``L`` over words ``1..N`` is::

        L[m, h] = -A[m, h] (h != m),   L[m, m] = sum_{h >= 0} A[m, h]                 (multi-root)
        L[m, h] = -A[m, h] (h != m),   L[m, m] = sum_{h >= 1} A[m, h],  L[:, 1] = A[:, 0]   (single root)

    and ``Z(A) = det L``.  Rows and columns past a sentence's length are an identity block, so a padded
    batch gives the same values as each sentence alone.  Differentiable (twice) through ``slogdet``.
    """
    size = phi.shape[-1]
    allowed = head_mask(lengths, size - 1)
    scores = phi.masked_fill(~allowed, float("-inf"))
    shift = scores.amax(-1, keepdim=True).detach()
    shift = shift.masked_fill(~torch.isfinite(shift), 0.0)  # the root row and padding rows
    weights = (scores - shift).exp()[:, 1:]  # (B, N, N+1): incoming weights of words 1..N, root first
    between = weights[..., 1:]
    lap = torch.diag_embed((weights if multiroot else between).sum(-1)) - between
    if not multiroot:
        lap = torch.cat((weights[..., :1], lap[..., 1:]), -1)
    lap = lap + torch.diag_embed((~length_mask(lengths, size - 1)).to(phi.dtype))
    return torch.linalg.slogdet(lap).logabsdet + shift[:, 1:, 0].sum(-1)


# ----------------------------------------------------------------------------- the distributions
class TreeFactorization(Factorization):
    """Shared part of the dependency CRFs: ``(B, N+1, N+1)`` potentials, the ``multiroot`` flag,
    head vectors as outputs."""

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, multiroot: bool = False):
        if log_potentials.dim() != 3 or log_potentials.shape[1] != log_potentials.shape[2] or log_potentials.shape[1] < 2:
            raise ValueError(
                f"{type(self).__name__}: potentials must have shape (B, N+1, N+1) with N >= 1, "
                f"got {tuple(log_potentials.shape)}"
            )
        self.multiroot = multiroot
        super().__init__(log_potentials, lengths)

    @staticmethod
    def max_length(log_potentials: torch.Tensor) -> int:
        return log_potentials.shape[1] - 1

    def to_parts(self, heads: torch.Tensor) -> torch.Tensor:
        """``(B, N+1)`` heads -> ``(B, N+1, N+1)`` 0/1 arcs ``[m, h]`` (words ``1..len`` only)."""
        return heads_to_arcs(heads, self.lengths).to(self.log_potentials.dtype)

    def _struct(self, sr=None):
        return self.struct(sr if sr is not None else LogSemiring, multiroot=self.multiroot)


class ProjectiveDependencyCRF(TreeFactorization):
    """Distribution over projective trees; every torch-struct semiring works (:class:`Eisner`).

    Parameters:
        log_potentials: ``(B, N+1, N+1)`` arc scores ``[b, m, h]``.
        lengths: ``(B,)`` numbers of words (default ``N``).
        multiroot: allow several root children (default: exactly one).
    """

    struct = Eisner

    def decode(self) -> torch.Tensor:
        """``(B, N+1)`` heads of the best projective tree (from the max-semiring ``argmax``)."""
        return self.argmax.argmax(-1)


class NonProjectiveDependencyCRF(TreeFactorization):
    """Distribution over all (non-projective) trees: log Z by the matrix-tree theorem
    (:func:`matrix_tree_log_partition`), marginals by autograd, decoding by Chu-Liu-Edmonds.

    ``partition`` and ``marginals`` are the inherited lazy properties (log semiring only); entropy,
    cross-entropy and KL use the exponential-family identities (``mu`` the marginals)::

        H[p]        = log Z_p - sum mu_p * phi_p
        H[p, q]     = log Z_q - sum mu_p * phi_q
        KL[p || q]  = H[p, q] - H[p]

    ``q`` must be a distribution over the same trees (this class, same lengths and ``multiroot``).
    Semiring-only features (``count``, ``kmax``, ``topk``, ``sample``) raise ``NotImplementedError``.

    Parameters: as :class:`ProjectiveDependencyCRF`.
    """

    struct = MatrixTree

    @lazy_property
    def entropy(self) -> torch.Tensor:
        """``(B,)`` H[p] = log Z - E_p[Score(y)]."""
        return self.partition - self.expected_score(self.marginals)

    def cross_entropy(self, other: "NonProjectiveDependencyCRF") -> torch.Tensor:
        """``(B,)`` H[p, q] = log Z_q - E_p[Score_q(y)] with ``p = self``, ``q = other``."""
        return other.partition - other.expected_score(self.marginals)

    def kl(self, other: "NonProjectiveDependencyCRF") -> torch.Tensor:
        """``(B,)`` KL[p || q] = H[p, q] - H[p] with ``p = self``, ``q = other``."""
        return self.cross_entropy(other) - self.entropy

    @lazy_property
    def argmax(self) -> torch.Tensor:
        """``(B, N+1, N+1)`` 0/1 arcs of the best tree."""
        return self.to_parts(self.decode())

    @lazy_property
    def max(self) -> torch.Tensor:
        """``(B,)`` score of the best tree."""
        return self.score(self.argmax)

    def decode(self) -> torch.Tensor:
        """``(B, N+1)`` heads of the maximum spanning tree (:func:`structkd.structs.mst.mst`)."""
        return mst(self.log_potentials, self.lengths, self.multiroot)
