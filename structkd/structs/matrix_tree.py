"""Log Z of non-projective dependency trees by the matrix-tree theorem: a batched LU fast path whose trust is
checked per sentence, and an exact subtraction-free elimination for the sentences that fail the check.

Scores ``phi`` are ``(B, N+1, N+1)``, ``[m, h]`` the arc ``h -> m`` (see :mod:`structkd.structs.tree`).  With
weights ``a[m, h] = exp(phi[m, h] - c_m)`` on the allowed arcs (0 elsewhere), shifted per word by
``c_m = max_h phi[m, h]`` (a tree has one arc per word: ``log Z = log Z(a) + sum_m c_m``), ``W = a[1:, 1:]``
(arcs between words), ``r = a[1:, 0]`` (root arcs) and ``D(x) = diag(x)``, the matrix-tree theorem (Koo et
al. 2007) gives, with the in-arc Laplacian ``L = D(W 1) - W`` (row ``m`` holds word ``m``'s heads)::

    Z_multiroot = det(D(r) + L)
    Z_single    = sum_m r_m det(minor_mm(L)) = det(M) * (r_1 + sum_{j>=2} r_j z_j),
                  M = L[2:, 2:],  M^T z = W[1, 2:]

(the second form is the Schur complement of ``D(t r) + L`` on word 1, differentiated at ``t = 0``; it needs
word 1 to be reached from every word by arcs of positive weight, else ``M`` is singular).  ``D(r) + L`` and
``M`` are M-matrices: nonpositive off the diagonal, every row's diagonal at least the sum of its off-diagonal
magnitudes.  Their transposes are column diagonally dominant, so LU with partial pivoting does not pivot,
and every step of it and of the triangular solves adds terms of one sign -- except one subtraction per step
on the diagonal.  That subtraction is the whole risk: on peaked scores, when the heads the words prefer form
cycles that outweigh every tree by some 15-30 nats, a pivot ``U_kk`` is the small difference of large numbers
and LU (as in ``slogdet``, torch-struct and SuPar) loses log Z entirely, even in float64.

**Fast path** (:func:`lu_log_partition`): one batched LU (float64) of the transposed matrix; log Z is the sum
of the log pivots (plus ``log(r_1 + r . z)`` for a single root, from one triangular solve).  Each pivot is
then checked against its subtraction-free value (:func:`_pivot_residual`: the Schur complements' column sums
grow by additions only, and a column of the ``k``-th complement sums to its slack), which measures the
pivot's relative error a posteriori.  A sentence is **trusted** when every pivot errs by at most
:data:`TRUST` and log Z is finite (a zero, negative or NaN pivot fails the check, and so does a row that
LAPACK reports singular).

**Exact path** (:func:`exact_log_partition`): Gaussian elimination in the GTH form (Grassmann, Taksar &
Heyman 1985), only sums, products and quotients of nonnegative numbers, so log Z keeps full relative precision
however peaked the scores; a Python-level loop over the words, used for the sentences the check refuses.

:func:`matrix_tree_log_partition` runs the fast path on the batch and the exact path on the rest.  Both are
differentiable twice; the fast path's gradient is the closed form of :func:`_weight_gradient` (one inverse
from the same factors, whose triangular solves also add terms of one sign), not autograd through the
factorization; :func:`fast_derivatives` gives the marginals and Hessian-vector products (reverse KL's gradient)
from the same factors.  A padding word hangs from word 1 with weight 1 (a factor 1 in every
tree), so a padded batch gives the same values as each sentence alone.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch

from .base import FORBIDDEN, length_mask

#: the largest relative error of an LU pivot (:func:`_pivot_residual`) the fast path is trusted with.  Rounding
#: alone leaves about ``n eps`` (2e-14 at n = 100); log Z then errs by at most the sum of the pivots' errors.
TRUST = 1e-12


def matrix_tree_log_partition(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False,
                              exact: bool = False) -> torch.Tensor:
    """``(B,)`` log Z over non-projective trees of ``(B, N+1, N+1)`` scores ``[m, h]`` (module docstring).

    The fast path where its check trusts it, the exact elimination elsewhere (everywhere with
    ``exact=True``); float64 inside, returned in ``phi``'s dtype.  Differentiable twice.
    """
    if exact or phi.shape[-1] < 3:
        return exact_log_partition(phi, lengths, multiroot)
    log_z, trusted = _FastLogPartition.apply(phi, lengths, multiroot)
    if trusted.all():
        return log_z
    refused = (~trusted).nonzero().squeeze(-1)
    return log_z.index_put((refused,), exact_log_partition(phi[refused], lengths[refused], multiroot))


def lu_log_partition(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False):
    """The fast path alone: ``(B,)`` LU log Z and ``(B,)`` bool, True where its check trusts that value.

    Where the check says False the value may be wrong by any amount (that is what the exact path is for);
    :func:`matrix_tree_log_partition` never returns it.  Needs ``N >= 2``.
    """
    return _FastLogPartition.apply(phi, lengths, multiroot)


def fast_derivatives(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False,
                     direction: torch.Tensor | None = None):
    """The fast path's ``(log Z (B,), mu, H d, trusted (B,))``, detached, in closed form: ``mu`` the arc
    marginals (shaped as ``phi``) and, for a ``direction`` ``d`` of that shape, ``H d``, the Hessian of log Z
    times ``d`` (None without a direction).  Needs ``N >= 2``; the rows where ``trusted`` is False hold
    values that may be wrong by any amount (as in :func:`lu_log_partition`).

    With ``g(w, G) = d log Z / d w`` (:func:`_weight_gradient`, a function of the weights ``w`` and of the
    inverse ``G`` of ``A(w) = D(r) + L`` or ``M``, linear in ``w``), ``mu = g * w`` and ``H d`` is the
    gradient of ``<mu, d>`` in the scores, ``w * d<mu, d>/dw``, taken backwards from the factors already
    computed::

        d<mu, d>/dw = g * d + (D_w g)^* (w * d) + A^*(-G^T (D_G g)^* (w * d) G^T)

    (``^*`` an adjoint: ``A^*`` that of the linear map ``w -> A(w)``): a backward pass through
    :func:`_weight_gradient` and :func:`_laplacian` alone, two matrix products, and no second factorization.
    """
    phi = phi.detach()
    factors = _factor(phi, lengths, multiroot, with_inverse=True)
    weights, inverse = factors.weights, factors.inverse
    dropped = _dropped_words(lengths, factors.trusted, weights.shape[1])
    if direction is None:
        grad = _weight_gradient(weights, inverse, multiroot, factors.solved, factors.total)
        return factors.log_z.to(phi.dtype), _arc_layout(grad * weights, dropped, phi.dtype), None, factors.trusted
    # padding words' hang arcs (weight 1, not a score) do not move
    moved = direction[:, 1:].to(weights.dtype)
    if dropped is not None:
        moved = moved.masked_fill(dropped, 0.0)
    with torch.enable_grad():
        leaves = weights.requires_grad_(), inverse.requires_grad_()
        grad = _weight_gradient(*leaves, multiroot)
        by_weights, by_inverse = torch.autograd.grad(grad, leaves, grad_outputs=weights * moved,
                                                     allow_unused=True)  # multiroot: g depends on G only
        transposed = inverse.detach().transpose(-1, -2)
        (by_matrix,) = torch.autograd.grad(_laplacian(weights, multiroot), weights,
                                           grad_outputs=-(transposed @ by_inverse @ transposed))
    grad, weights = grad.detach(), weights.detach()
    by_weights = by_matrix if by_weights is None else by_weights.add_(by_matrix)
    hessian_d = weights * by_weights.addcmul_(grad, moved)
    return (factors.log_z.to(phi.dtype), _arc_layout(grad * weights, dropped, phi.dtype),
            _arc_layout(hessian_d, dropped, phi.dtype), factors.trusted)


def _dropped_words(lengths: torch.Tensor, trusted: torch.Tensor, n: int) -> torch.Tensor | None:
    """``(B, n, 1)`` True on the words the fast path gives no derivatives: padding words (their hang arcs are no
    score) and every word of a refused row (its log Z comes from the exact path); None when there are none."""
    if trusted.all() and not (lengths < n).any():
        return None
    return ~(length_mask(lengths, n) & trusted.unsqueeze(-1)).unsqueeze(-1)


def _arc_layout(values: torch.Tensor, dropped: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """``(B, n, n+1)`` per-word values -> ``(B, n+1, n+1)`` in ``dtype``, 0 on the root row and where
    ``dropped`` (None: nowhere; else ``(B, n, 1)`` words or ``(B, n, n+1)`` arcs)."""
    if dropped is not None:
        values = values.masked_fill(dropped, 0.0)
    return torch.nn.functional.pad(values, (0, 0, 1, 0)).to(dtype)


def shifted_scores(phi: torch.Tensor, lengths: torch.Tensor):
    """Float64 ``(B, N, N+1)`` arc scores less their row maxima (row ``m-1`` holds the heads of word ``m``,
    root first; ``-inf`` on the arcs no tree has) and the ``(B,)`` total shift ``sum_m c_m``.  A ``-inf``
    score of an allowed arc counts as :data:`~structkd.structs.base.FORBIDDEN` (finite, weight 0 beside any
    allowed arc, no NaN gradient; as every structure of :class:`~structkd.structs.base.DynamicProgram`).  A
    padding word's only arc is from word 1, with score 0 (weight 1) and no gradient."""
    n = phi.shape[-1] - 1
    allowed = _arc_reach(n, phi.device) <= lengths.view(-1, 1, 1)
    minus_inf = phi.new_full((1, 1, 1), float("-inf"), dtype=torch.float64)  # not 0-dim: it sets the dtype
    scores = torch.where(allowed, phi[:, 1:].clamp(min=FORBIDDEN), minus_inf)
    if (lengths < n).any():
        scores[..., 1].masked_fill_(~length_mask(lengths, n), 0.0)  # the hang arcs of padding words
    shift = scores.amax(-1, keepdim=True).detach()
    return scores.sub_(shift), shift.sum((-2, -1))


@functools.lru_cache(maxsize=256)
def _arc_reach(n: int, device: torch.device) -> torch.Tensor:
    """``(n, n+1)`` the last word an arc ``h -> m`` touches, ``max(m, h)`` at ``[m-1, h]``, and ``n+1`` on
    ``h = m``: the arc is in a sentence of ``k`` words when this is ``<= k``."""
    words = torch.arange(1, n + 1, device=device)
    reach = torch.maximum(words.unsqueeze(-1), torch.arange(n + 1, device=device))
    reach.diagonal(1).fill_(n + 1)
    return reach


# ----------------------------------------------------------------------------- the fast path
def _laplacian(weights: torch.Tensor, multiroot: bool) -> torch.Tensor:
    """``D(r) + L`` (multiroot, ``(B, n, n)``) or ``M = L[2:, 2:]`` (single root, ``(B, n-1, n-1)``) of
    ``(B, n, n+1)`` weights whose diagonal ``W[m, m]`` is 0."""
    words = weights[..., 1:] if multiroot else weights[:, 1:, 1:]
    diagonal = words.sum(-1) + weights[..., 0] if multiroot else words.sum(-1)
    laplacian = -(words if multiroot else words[..., 1:])
    laplacian.diagonal(dim1=-2, dim2=-1).add_(diagonal)
    return laplacian


class _Factors(NamedTuple):
    """What the fast path computes for a batch (float64): ``log_z`` and ``trusted`` ``(B,)``, the shifted
    ``weights`` ``(B, n, n+1)``, the ``inverse`` of ``D(r) + L`` or ``M`` (None unless asked for) and, for a
    single root, ``solved`` = ``z`` ``(B, n-1, 1)`` and ``total`` = ``s`` ``(B,)`` (see
    :func:`_weight_gradient`)."""

    log_z: torch.Tensor
    trusted: torch.Tensor
    weights: torch.Tensor
    inverse: torch.Tensor | None
    solved: torch.Tensor | None
    total: torch.Tensor | None


def _factor(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool, with_inverse: bool) -> _Factors:
    """One batched LU of the transposed Laplacian, log Z from its pivots and each pivot's check (module
    docstring); the inverse too when ``with_inverse``."""
    scores, shift = shifted_scores(phi, lengths)
    weights = scores.exp_()
    lu, pivots, info = torch.linalg.lu_factor_ex(_laplacian(weights, multiroot).transpose(-1, -2))
    # rows that are singular, or whose factors LAPACK left undefined (NaN input), are refused below; identity
    # factors keep the solves defined meanwhile
    failed = None
    if info.any() or (pivots < 1).any():
        failed = (info != 0) | (pivots < 1).any(-1)
        eye = torch.eye(lu.shape[-1], dtype=lu.dtype, device=lu.device)
        lu = torch.where(failed.view(-1, 1, 1), eye, lu)
        pivots = torch.where(failed.view(-1, 1), torch.arange(1, lu.shape[-1] + 1, dtype=pivots.dtype,
                                                              device=pivots.device), pivots)
    log_z = lu.diagonal(dim1=-2, dim2=-1).log().sum(-1) + shift
    inverse = _inverse(lu, pivots) if with_inverse else None
    solved = total = None
    if not multiroot:  # M^T z = W[1, 2:];  log Z += log(s),  s = r_1 + r_{2:} . z
        solved = (torch.linalg.lu_solve(lu, pivots, weights[:, 0, 2:].unsqueeze(-1)) if inverse is None
                  else _solved(weights, inverse))
        total = _total(weights, solved)
        log_z += total.log()
    # A pivot that is not positive (a row exchange or cancellation past zero) makes log Z NaN.
    residual = _pivot_residual(lu, weights[..., 0] if multiroot else weights[:, 1:, 1])
    trusted = (residual <= TRUST) & torch.isfinite(log_z)
    if failed is not None:
        trusted &= ~failed
    return _Factors(log_z, trusted, weights, inverse, solved, total)


class _FastLogPartition(torch.autograd.Function):
    """``phi (B, N+1, N+1), lengths -> (log Z (B,), trusted (B,))`` by LU (module docstring).  The gradient,
    the arc marginals, is the closed form of :func:`_weight_gradient` times the weights, and 0 on the rows
    that are not trusted (their log Z comes from the exact path)."""

    @staticmethod
    def forward(ctx, phi, lengths, multiroot):
        # the inverse the gradient needs, now when a gradient will be asked for: it also gives z
        factors = _factor(phi, lengths, multiroot, with_inverse=ctx.needs_input_grad[0])
        ctx.multiroot = multiroot
        ctx.save_for_backward(phi, lengths, *factors[1:])
        ctx.mark_non_differentiable(factors.trusted)
        return factors.log_z.to(phi.dtype), factors.trusted

    @staticmethod
    def backward(ctx, grad, _):
        phi, lengths, trusted, weights, inverse, solved, total = ctx.saved_tensors
        dropped = _dropped_words(lengths, trusted, weights.shape[1])
        if torch.is_grad_enabled():  # a second derivative is wanted: everything again, differentiably in phi
            weights = shifted_scores(phi, lengths)[0].exp()
            matrix = _laplacian(weights, ctx.multiroot)
            eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
            inverse = _MMatrixInverse.apply(torch.where(trusted.view(-1, 1, 1), matrix, eye))
            # also masked where the weight is 0 (an arc no tree has, or a -inf score): the gradient arriving
            # there may be NaN (0 * -inf in a loss that multiplies marginals by scores) and must stop
            dropped = (weights == 0) if dropped is None else dropped | (weights == 0)
            marginals = _weight_gradient(weights, inverse, ctx.multiroot) * weights
            return _arc_layout(marginals, dropped, phi.dtype) * grad.view(-1, 1, 1), None, None
        full = weights.new_empty(phi.shape)
        full[:, 0] = 0  # the root row; _weight_gradient writes every other entry
        marginals = _weight_gradient(weights, inverse, ctx.multiroot, solved, total, out=full[:, 1:]).mul_(weights)
        if dropped is not None:
            marginals.masked_fill_(dropped, 0.0)
        if not (grad == 1).all():
            full.mul_(grad.view(-1, 1, 1))
        return full.to(phi.dtype), None, None


class _MMatrixInverse(torch.autograd.Function):
    """``(B, k, k)`` M-matrices -> their inverses, by the unpivoted LU of the transpose and triangular solves
    whose terms all have one sign (as the fast path computes them: a general inverse, with row exchanges and
    subtractions, loses the marginals of peaked sentences); gradient ``-G^T g G^T``."""

    @staticmethod
    def forward(ctx, matrix):
        lu, pivots, _ = torch.linalg.lu_factor_ex(matrix.transpose(-1, -2))
        inverse = _inverse(lu, pivots)
        ctx.save_for_backward(inverse)
        return inverse

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        transposed = inverse.transpose(-1, -2)
        return -transposed @ grad @ transposed


def _inverse(lu: torch.Tensor, pivots: torch.Tensor) -> torch.Tensor:
    """``(B, k, k)`` the inverse of the matrix whose transpose ``lu`` factors: ``(T^T)^{-1}`` by solving
    ``T^T X = I`` with the factors of ``T``."""
    eye = torch.eye(lu.shape[-1], dtype=lu.dtype, device=lu.device).expand_as(lu)
    return torch.linalg.lu_solve(lu, pivots, eye, adjoint=True)


def _pivot_residual(lu: torch.Tensor, slack: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the largest ``|1 - sigma_k - l_k|``: how far each LU pivot is from its subtraction-free value.

    ``lu`` holds the unpivoted factors ``L U`` of the transposed matrix ``T`` (module docstring), ``slack`` its
    ``(B, n)`` column sums ``1^T T`` computed from the weights (root weights for ``D(r) + L``, the arcs from
    word 1 for ``M``).  The column sums ``s^(k)`` of the Schur complements grow without subtraction,
    ``s^(k+1)_j = s^(k)_j + |U_kj| s^(k)_k / U_kk``, so ``sigma_k = s^(k)_k / U_kk`` solves ``U^T sigma = slack``
    by forward substitution (terms of one sign).  Column ``k`` of the ``k``-th Schur complement sums to its
    slack: ``U_kk = s^(k)_k + U_kk l_k`` with ``l_k = sum_{i>k} |L_ik|``.  So ``sigma_k + l_k = 1`` up to
    ``n eps`` when ``U_kk`` is right, and ``1 / (1 + delta)`` when cancellation left it off by a relative
    ``delta``: the residual measures each pivot's error a posteriori.
    """
    sigma = torch.linalg.solve_triangular(lu, slack.unsqueeze(-2), upper=True, left=False).squeeze(-2)
    lower = lu.tril(-1).sum(-2)  # column sums of the strictly lower part: -l
    return (sigma - lower).sub_(1).abs_().amax(-1)


def _weight_gradient(weights, inverse, multiroot, solved=None, total=None, out=None) -> torch.Tensor:
    """``(B, n, n+1)`` d log Z / d weights, written into ``out`` (a new tensor if None; then the result
    is differentiable in ``weights`` and ``inverse``), from ``inverse`` = ``(D(r) + L)^{-1}`` or ``M^{-1}``.

    Multiroot, ``A = D(r) + L``, ``G = A^{-1}``: d/dr_m = G[m, m] and d/dW[m, h] = G[m, m] - G[h, m].
    Single root, ``z = M^{-T} W[1, 2:]`` and ``s = r_1 + r_{2:} . z`` (``solved`` ``(B, n-1, 1)`` and ``total``
    ``(B,)`` when the forward pass kept them), ``u = M^{-1} r_{2:}``: d log Z / dM = ``M^{-T} - z u^T / s`` =:
    ``F``, so for words ``m >= 2``: d/dW[m, h] = F[m, m] - F[m, h] (``h >= 2``), d/dW[m, 1] = F[m, m],
    d/dr_m = z_m / s; and for word 1: d/dr_1 = 1 / s, d/dW[1, j] = u_j / s.  The diagonal ``W[m, m]`` gets 0
    (``G[m, m] - G[m, m]``), and so does ``W[1, 1]``.
    """
    differentiable = out is None
    out = weights.new_empty(weights.shape) if differentiable else out
    transposed = inverse.transpose(-1, -2)
    if multiroot:
        own = inverse.diagonal(dim1=-2, dim2=-1).unsqueeze(-1)
        out[..., :1] = own
        _difference(own, transposed, out[..., 1:], differentiable)
        return out
    roots = weights[:, 1:, :1]
    if solved is None:
        solved = _solved(weights, inverse)
        total = _total(weights, solved)
    scale = total.view(-1, 1, 1)
    spread = inverse @ roots / scale  # u / s: (B, n-1, 1)
    own = inverse.diagonal(dim1=-2, dim2=-1).unsqueeze(-1) - solved * spread  # F[m, m]: (B, n-1, 1)
    out[:, :1, :1] = 1 / scale
    out[:, :1, 1:2] = 0
    out[:, :1, 2:] = spread.transpose(-1, -2)
    out[:, 1:, :1] = solved / scale
    out[:, 1:, 1:2] = own
    _difference(own, transposed, out[:, 1:, 2:], differentiable).addcmul_(solved, spread.transpose(-1, -2))
    return out


def _solved(weights: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Single root: ``(B, n-1, 1)`` ``z = M^{-T} W[1, 2:]`` from ``inverse = M^{-1}``."""
    return inverse.transpose(-1, -2) @ weights[:, 0, 2:].unsqueeze(-1)


def _total(weights: torch.Tensor, solved: torch.Tensor) -> torch.Tensor:
    """Single root: ``(B,)`` ``s = r_1 + r_{2:} . z``."""
    return torch.baddbmm(weights[:, :1, :1], weights[:, 1:, :1].transpose(-1, -2), solved).view(-1)


def _difference(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, differentiable: bool) -> torch.Tensor:
    """``out[...] = a - b``: by assignment when ``differentiable`` (autograd follows it), else straight into
    ``out``."""
    if differentiable:
        out[...] = a - b
        return out
    return torch.sub(a, b, out=out)


# ----------------------------------------------------------------------------- the exact path
def exact_log_partition(phi: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B,)`` log Z by :func:`_eliminate` (autograd for the gradient); for a single root the words are first
    reordered so that no pivot is 0 (:func:`_reached_by_all_first`).  Float64 inside, ``phi``'s dtype out."""
    scores, shift = shifted_scores(phi, lengths)
    weights = scores.exp()
    if not multiroot:
        weights = _permute_words(weights, _reached_by_all_first(weights[..., 1:]))
    log_pivots, root_weight = _eliminate(weights, first_head=0 if multiroot else 1)
    return (log_pivots + root_weight.log() + shift).to(phi.dtype)


def _eliminate(a: torch.Tensor, first_head: int):
    """Gaussian elimination in the GTH form: only sums, products and quotients of nonnegative numbers.

    ``a``: ``(B, n, n+1)`` nonnegative weights, ``a[:, m-1, h]`` of the arc ``h -> m`` (column 0 the
    root; the diagonal ``a[:, m-1, m]`` is never read).  Words ``n, ..., 2`` are eliminated, each folding
    the paths through it into the remaining arcs::

        p_k        = sum_{first_head <= h < k} a[k-1, h]            (the pivot)
        a[m-1, h] += a[m-1, k] a[k-1, h] / p_k                     (m < k, h < k)

    With ``first_head = 0`` the pivots are those of ``D(r) + L`` and ``det = prod_k p_k * a[0, 0]``.
    With ``first_head = 1`` they are those of ``L`` while the root column is carried along as a
    first-order term, and ``prod_k p_k * a[0, 0] = d/dt det(D(t r) + L)`` at ``t = 0``.
    Returns ``(sum_k log p_k, a[0, 0])``, both ``(B,)``.
    """
    pivots = []
    for k in range(a.shape[1], 1, -1):
        heads = a[:, k - 1, :k]  # (B, k): the remaining heads of word k, root first
        pivot = heads[:, first_head:].sum(-1, keepdim=True)
        a = torch.addcmul(a[:, : k - 1, :k], a[:, : k - 1, k : k + 1], (heads / pivot).unsqueeze(1))
        pivots.append(pivot)
    log_pivots = torch.cat(pivots, -1).log().sum(-1) if pivots else a.new_zeros(a.shape[0])
    return log_pivots, a[:, 0, 0]


def _reached_by_all_first(w: torch.Tensor) -> torch.Tensor:
    """``(B, n)`` word order that puts first a word every word reaches by following heads of positive
    weight in ``w`` (``(B, n, n)``, ``[m-1, h-1]``), so that no single-root pivot is 0.  The identity
    when all arcs are finite.  Reachability by ``ceil(log2 n)`` squarings of the boolean adjacency.
    """
    batch, n = w.shape[0], w.shape[-1]
    reach = (w > 0) | torch.eye(n, dtype=torch.bool, device=w.device)
    for _ in range(math.ceil(math.log2(max(n, 2)))):
        reach = (reach.float() @ reach.float()) > 0  # path counts <= n: exact in float32
    first = reach.all(1).to(torch.uint8).argmax(-1)  # (B,): the first word reached by all (0 if none)
    order = torch.arange(n, device=w.device).repeat(batch, 1)
    order[torch.arange(batch, device=w.device), first] = 0
    order[:, 0] = first
    return order


def _permute_words(a: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``(B, n, n+1)`` weights with rows and word columns (1..n; the root column stays) in ``order``."""
    rows = a.gather(1, order.unsqueeze(-1).expand_as(a))
    columns = torch.cat((order.new_zeros(order.shape[0], 1), order + 1), -1)
    return rows.gather(2, columns.unsqueeze(1).expand_as(a))
