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

from .base import DynamicProgram, Factorization
from .local import head_mask, heads_to_arcs, semiring_masked
from .matrix_tree import fast_derivatives, matrix_tree_log_partition
from ..decoders import eisner
from .mst import mst


# ----------------------------------------------------------------------------- projective: Eisner
class Eisner(DynamicProgram):
    """Eisner's inside algorithm over ``(ssize, B, N+1, N+1)`` potentials ``[m, h]`` in semiring operations.

    Spans ``(i, j)``, ``i < j``, of four kinds (``(+)``, ``(x)`` the semiring sum and product, ``1`` its one)::

        X(i, j)   = (+)_{i <= r < j} C_r(i, r) (x) C_l(r+1, j)
        I_r(i, j) = X(i, j) (x) phi[j, i]      I_l(i, j) = X(i, j) (x) phi[i, j]      (arc i -> j, arc j -> i)
        C_l(i, j) = (+)_{i <= r < j} C_l(i, r) (x) I_l(r, j)
        C_r(i, j) = (+)_{i < r <= j} I_r(i, r) (x) C_r(r, j)
        C_r(i, i) = C_l(i, i) = 1,    Z = C_r(0, n)

    Step ``w`` computes every span of width ``w = j - i`` of the whole batch with two semiring products
    and sums over ``(..., N+1-w, w)`` operands, row ``i`` holding the ``w`` splits of ``(i, i+w)``::

        X:         lx[i, k] = C_r(i, i+k)                   rx[i, k] = C_l(i+k+1, i+w)
        C_l, C_r:  lc[i, k] = C_l(i, i+k), I_r(i, i+k+1)    rc[i, k] = I_l(i+k, i+w), C_r(i+k+1, i+w)

    Each operand is its previous version less a row plus one column (the spans just finished), so a
    step costs time proportional to its operands (writing into a chart instead makes the backward pass
    copy the whole chart at every step).  O(N^3) work in N sequential steps.

    Single root: ``C_r(0, r)`` is never used as a left part for ``r > 0``, so ``X(0, j) = C_l(1, j)``
    and the root takes exactly one child.  Ignored cells become the (finite) semiring zero and ``-inf``
    scores arrive as the finite ``FORBIDDEN`` (see :class:`DynamicProgram`), so no semiring sum sees
    ``-inf`` and no gradient is NaN.
    """

    def __init__(self, semiring=LogSemiring, multiroot: bool = False):
        super().__init__(semiring)
        self.multiroot = multiroot

    def _semiring_sum(self, phi, lengths):
        sr = self.semiring
        ssize, batch, size = phi.shape[0], phi.shape[1], phi.shape[-1]
        arcs = _arc_stripes(semiring_masked(sr, phi, head_mask(lengths, size - 1)))
        c_l = c_r = sr.one_(phi.new_empty(ssize, batch, size))  # complete spans of width 0, row = start
        root_zero = sr.zero_(phi.new_empty(ssize, batch, 1))
        lx = rx = phi.new_empty(ssize, batch, size, 0)
        lc = rc = phi.new_empty(ssize, 2, batch, size, 0)
        roots = []  # C_r(0, w) for w = 1..N
        for w in range(1, size):
            # c_l, c_r: the complete spans of width w-1, by start (N+2-w rows)
            lx = torch.cat((lx[..., :-1, :], c_r[..., :-1, None]), -1)
            rx = torch.cat((c_l[..., 1:, None], rx[..., 1:, :]), -1)
            inc = sr.times(sr.sum(sr.times(lx, rx)).unsqueeze(1), arcs[w - 1])  # (s, 2, B, N+1-w): I_l, I_r
            lc = torch.cat((lc[..., :-1, :], torch.stack((c_l[..., :-1], inc[:, 1]), 1).unsqueeze(-1)), -1)
            rc = torch.cat((torch.stack((inc[:, 0], c_r[..., 1:]), 1).unsqueeze(-1), rc[..., 1:, :]), -1)
            c_l, c_r = sr.sum(sr.times(lc, rc)).unbind(1)
            roots.append(c_r[..., 0])
            if not self.multiroot:
                c_r = torch.cat((root_zero, c_r[..., 1:]), -1)
        roots = torch.stack(roots, -1)  # (s, B, N)
        return roots.gather(-1, (lengths - 1).view(1, -1, 1).expand(ssize, -1, 1)).squeeze(-1)


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


# ----------------------------------------------------------------------------- non-projective: matrix-tree
class MatrixTree(DynamicProgram):
    """Log Z of non-projective trees by the matrix-tree theorem (log semiring only): a batched LU whose
    trust is checked per sentence, and the exact elimination for the rest (:mod:`.matrix_tree`).

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

    def logpartition(self, log_potentials, lengths=None, force_grad=False):
        """``(1, B)`` log Z and the potentials it was computed from.  The scores go straight to
        :func:`matrix_tree_log_partition`, which reads a ``-inf`` score as ``FORBIDDEN`` itself, with no
        masked copy of them into the semiring's layout and back (at ``N = 25`` those passes and their
        backward cost about as much as the LU)."""
        edge = log_potentials
        if force_grad and not edge.requires_grad:
            edge = edge.detach().requires_grad_(True)
        return matrix_tree_log_partition(edge, lengths, self.multiroot).unsqueeze(0), [edge]


# ----------------------------------------------------------------------------- the distributions
class TreeFactorization(Factorization):
    """Shared part of the dependency CRFs: ``(B, N+1, N+1)`` potentials, the ``multiroot`` flag,
    head vectors as outputs."""

    sentence_dims, root_positions = 2, 1

    def __init__(self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, multiroot: bool = False):
        shape = tuple(log_potentials.shape)
        if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 2:
            raise ValueError(
                f"{type(self).__name__}: potentials must have shape (B, N+1, N+1) with N >= 1, got {shape}"
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

    ``kl`` and ``cross_entropy`` run the semiring over ``p``'s trees, so ``q`` must be a
    ``ProjectiveDependencyCRF`` with the same ``multiroot`` (and lengths).

    Parameters:
        log_potentials: ``(B, N+1, N+1)`` arc scores ``[b, m, h]``.
        lengths: ``(B,)`` numbers of words (default ``N``).
        multiroot: allow several root children (default: exactly one).
    """

    struct = Eisner

    def decode(self) -> torch.Tensor:
        """``(B, N+1)`` heads of the best projective tree, by :func:`structkd.decoders.eisner` on the CPU (the
        tree of the max-semiring :attr:`argmax`, without its autograd pass)."""
        phi = self.log_potentials.detach()
        heads = eisner(phi.cpu().double().numpy(), self.lengths.cpu().numpy(), self.multiroot)
        return torch.from_numpy(heads).to(phi.device)


class NonProjectiveDependencyCRF(TreeFactorization):
    """Distribution over all (non-projective) trees: log Z by the matrix-tree theorem
    (:func:`matrix_tree_log_partition`: a checked LU fast path, exact elimination where the check refuses it),
    marginals in closed form (fast path) or by autograd, decoding by Chu-Liu-Edmonds.

    ``partition`` and ``marginals`` are the inherited lazy properties (log semiring only); entropy,
    cross-entropy and KL use the exponential-family identities (``mu`` the marginals)::

        H[p]        = log Z_p - sum mu_p * phi_p
        H[p, q]     = log Z_q - sum mu_p * phi_q
        KL[p || q]  = H[p, q] - H[p]

    ``q`` is any arc-factored distribution (``log q(y) = Score_q(y) - log Z_q``) over the same lengths
    whose support contains ``p``'s: this class with the same ``multiroot``, or a ``HeadSelection``.
    Semiring-only features (``count``, ``kmax``, ``topk``, ``sample``) raise ``NotImplementedError``.

    Parameters: as :class:`ProjectiveDependencyCRF`.
    """

    struct = MatrixTree

    def derivatives(self, direction: torch.Tensor | None = None):
        """As :meth:`Factorization.derivatives`, in closed form on the sentences the LU fast path trusts
        (:func:`~structkd.structs.matrix_tree.fast_derivatives`: ``H d`` by a backward pass through the
        closed-form gradient and the Laplacian, from the factors of the one LU), by autograd through the exact
        elimination on the others."""
        phi = self.log_potentials
        if phi.shape[-1] < 3:  # one word: no LU
            return super().derivatives(direction)
        log_z, mu, hessian_d, trusted = fast_derivatives(phi.detach(), self.lengths, self.multiroot,
                                                         direction)
        if not trusted.all():
            rows = (~trusted).nonzero().squeeze(-1)
            refused = NonProjectiveDependencyCRF(phi[rows], self.lengths[rows], self.multiroot)
            exact = Factorization.derivatives(refused, None if direction is None else direction[rows])
            for value, part in zip((log_z, mu, hessian_d), exact):
                if value is not None:
                    value[rows] = part
        return log_z, mu, hessian_d

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
