"""Divergences between a teacher's and a student's structured distributions (f-DISTILL, Wen et al. 2023, made
exact or certified for CRFs and trees).

**The teacher in the student's family.**  Every divergence here compares ``p~_t``, the teacher brought onto the
student's substructures as structural KD does (:func:`teacher_view`), with the student ``q = p_s``:

* a tree student (projective or non-projective): the student's tree CRF over the teacher's arc scores, i.e.
  the teacher conditioned on the student's trees, ``p_t(y | y a student tree)`` (the teacher itself when its
  trees are the student's);
* a chain student: the Markov chain whose pair marginals are the teacher's projected ones,
  ``p~(y) = P(0, y_0) prod_i P(i, y_{i-1}, y_i) / P(i-1, y_{i-1})`` -- the teacher itself for a chain teacher,
  the conditioned teacher for a MaxEnt one, and the M-projection (the closest chain in KL(p_t || .)) of a span
  teacher;
* a locally normalised student (MaxEnt, head selection): the product of the teacher's projected per-position
  marginals, the M-projection of any teacher onto the student's family.

By the Pythagorean identity of M-projections, ``KL(p_t || q) = KL(p_t || p~_t) + KL(p~_t || q)``: the student's
gradient of :func:`kl` is that of the teacher's own KL (and of structural KD).  A zero teacher marginal counts as
the smallest normal number of its dtype (``log p = -708`` in float64, ``-87`` in float32).

**What is exact** (``p = p~_t``, ``q`` the student, ``A`` log-partitions, ``mu`` marginals, ``phi`` potentials,
``H`` entropies, ``m = (1 - beta) p + beta q``)::

    KL(p || q)  = A_q - <mu_p, phi_q> - H(p)                                  exact, every structure
    KL(q || p)  = A_p - A_q + <mu_q, phi_q - phi_p>                           exact, every structure
    JS_beta     = (1 - beta) KL(p || m) + beta KL(q || m)
                <= H(r) - (1 - beta) H(p) - beta H(q),  r the chain (or product) with m's marginals
                                                                            upper, chains and products
                <= beta (1 - beta) (KL + RKL) + log Z_beta,  Z_beta = sum_y p^(1-beta) q^beta
                                                                            upper, every structure
                >= max over positions of JS_beta of the position's marginals (data processing)   lower
    H^2         = 1 - BC,  BC = exp(A((phi_p + phi_q) / 2) - A_p / 2 - A_q / 2)   exact, every structure
    TV          <= sum_i sum_a w_{i-1}(a) TV(p(. | a), q(. | a)),  w the teacher's or the student's
                                                           marginals (the smaller of the two)  upper, chains
                <= sum_i TV(p_i, q_i)                                         upper, products
                <= sqrt(1 - BC^2)                                             upper, trees
                >= max(1 - BC, max over positions of TV of the position's marginals)       lower

and f-DISTILL's own step-wise JS (:func:`js_stepwise`: its per-step mixture of the two conditionals, summed
exactly over prefixes instead of sampled) is an upper bound that is never below the chain bound above.
:func:`js_estimate` and :func:`tvd_estimate` are unbiased Monte-Carlo estimates from exact samples of both
distributions, with standard errors; their gradient is the student's score-function gradient,
``beta E_q[log(q/m) grad log q]`` and ``E_q[sign(q - p) grad log q] / 2``, with a leave-one-out baseline.

    >>> import torch
    >>> from structkd import LinearChainCRF, MaxEnt
    >>> teacher = LinearChainCRF(torch.randn(1, 4, 3, 3, dtype=torch.float64))
    >>> student = MaxEnt(torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True))
    >>> d = reverse_kl(teacher, student)
    >>> d.kind, d.value.shape
    ('exact', torch.Size([1]))
    >>> bool((js_lower(teacher, student).value <= js(teacher, student).value).all())
    True
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .projections import ProjectionError, check_pair, project, supports_contain
from .structs.base import Factorization, _finite
from .structs.chain import LinearChainCRF
from .structs.local import HeadSelection, MaxEnt
from .structs.samplers import sample
from .structs.second_order import SiblingMeanField
from .structs.tree import TreeFactorization

#: what a value is
KINDS = ("exact", "upper", "lower", "estimate")
#: the divergences a student can be trained on, each by its exact value or its tightest exact upper bound
OBJECTIVES = ("kl", "rkl", "js", "tvd")


class Divergence(NamedTuple):
    """``value`` ``(B,)`` per sentence; ``kind`` one of :data:`KINDS`; ``stderr`` ``(B,)`` for estimates."""

    value: torch.Tensor
    kind: str
    name: str
    stderr: torch.Tensor | None = None


# ----------------------------------------------------------------------------- the teacher in the student's family
def divergence_targets(teacher, student: Factorization) -> torch.Tensor:
    """What defines :func:`teacher_view`, cacheable before training: the teacher's marginals over the student's
    substructures (shaped like ``student.log_potentials``), or for a tree student ``(B, N+1, N+1, 2)``: the
    teacher's arc scores and the arc marginals of its view, whose root row (no word has the root as dependent)
    carries the view's log Z at ``[0, 0]`` -- so that training needs no teacher inference."""
    check_pair(teacher, student)
    if not isinstance(student, TreeFactorization):
        return project(teacher, student)
    if isinstance(teacher, SiblingMeanField):
        raise ProjectionError(
            f"{type(teacher).__name__} -> {type(student).__name__}: a mean-field second-order teacher defines no "
            f"distribution over trees, so no divergence from it can be computed; distil it into a head-selection "
            f"student, or use structural KD"
        )
    if not supports_contain(teacher, student):
        raise ProjectionError(
            f"{_pair_name(teacher, student)}: the student can produce trees the teacher cannot "
            f"(its trees are a subset of the student's), so the teacher has no distribution over the student's "
            f"trees; use a student of the teacher's tree family or a head-selection student"
        )
    view = student.with_potentials(teacher.log_potentials)
    marginals = view.marginals.clone()
    marginals[:, 0, 0] = view.partition
    return torch.stack([teacher.log_potentials, marginals], -1)


def arc_marginals(targets: torch.Tensor, student: Factorization) -> torch.Tensor:
    """The marginals over the student's substructures held by :func:`divergence_targets` (for a tree student
    the second channel, whose root row is not a marginal)."""
    return targets[..., 1] if isinstance(student, TreeFactorization) else targets


def view_from_targets(targets: torch.Tensor, student: Factorization, temperature: float = 1.0) -> Factorization:
    """``p~_t`` (see the module docstring) from :func:`divergence_targets`, in the student's class, lengths and
    options, with its potentials divided by ``temperature``.

    A chain or product view is built from conditionals normalised row by row, so its log-partition is 0 and,
    for consistent marginals, its marginals are the targets; a tree view's come with the targets.  At
    temperature 1 both are taken as known, and the view costs no inference."""
    dtype = student.log_potentials.dtype
    if isinstance(student, TreeFactorization):
        view = student.with_potentials(targets[..., 0].to(dtype) / temperature)
        if temperature == 1:
            marginals = targets[..., 1].to(dtype)
            view.__dict__["partition"] = marginals[:, 0, 0]
            view.__dict__["marginals"] = torch.cat([torch.zeros_like(marginals[:, :1]), marginals[:, 1:]], 1)
        return view
    if isinstance(student, LinearChainCRF):
        potentials = markov_potentials(targets)
    elif isinstance(student, (MaxEnt, HeadSelection)):
        potentials = _row_log_probs(targets)
    else:
        raise ProjectionError(f"no divergence for a {type(student).__name__} student")
    view = student.with_potentials(potentials.to(dtype) / temperature)
    if isinstance(view, LinearChainCRF):
        view.emissions = None  # the student's own emissions do not describe this distribution
    if temperature == 1:  # torch-struct's lazy properties, filled in
        view.__dict__["partition"] = torch.zeros_like(student.lengths, dtype=view.log_potentials.dtype)
        view.__dict__["marginals"] = targets.to(view.log_potentials.dtype)
    return view


def teacher_view(teacher, student: Factorization) -> Factorization:
    """``p~_t``: the teacher in the student's family (see the module docstring)."""
    return view_from_targets(divergence_targets(teacher, student), student)


def markov_potentials(pairs: torch.Tensor) -> torch.Tensor:
    """``(B, N, C, C)`` pair marginals -> the potentials of the chain with these marginals: the log conditionals
    ``log P(i, p, c) - log sum_c' P(i, p, c')`` (= ``log P(i, p, c) - log P(i-1, p)`` for consistent marginals;
    ``log P(0, 0, c)`` at the first token)."""
    return _row_log_probs(pairs)


def _row_log_probs(probs: torch.Tensor) -> torch.Tensor:
    """Log of ``probs`` normalised over the last dimension, with zeros floored at the dtype's smallest normal
    number (a row without mass becomes uniform)."""
    floored = probs.clamp_min(torch.finfo(probs.dtype).tiny)
    return floored.log() - floored.sum(-1, keepdim=True).log()


def _previous_unary(pairs: torch.Tensor) -> torch.Tensor:
    """``(B, N, C)``: ``[i]`` the label marginals of position ``i - 1``; ``[0]`` the start state (label 0)."""
    unary = pairs.sum(-2)
    start = torch.zeros_like(unary[:, :1])
    start[..., 0] = 1
    return torch.cat([start, unary[:, :-1]], 1)


def _pair_name(teacher, student) -> str:
    return f"{type(teacher).__name__} -> {type(student).__name__}"


# ----------------------------------------------------------------------------- exact quantities
def _inner(weights: torch.Tensor, potentials: torch.Tensor) -> torch.Tensor:
    """``(B,)`` sum_u w(u) phi(u), with 0 where ``w(u) = 0`` even where ``phi(u) = -inf``."""
    prod = weights * _finite(potentials)
    return torch.where(weights != 0, prod, torch.zeros_like(prod)).flatten(1).sum(-1)


def entropy(dist: Factorization) -> torch.Tensor:
    """``(B,)`` H(p) = A - <mu, phi>."""
    return dist.partition - _inner(dist.marginals, dist.log_potentials)


def _kl(p: Factorization, q: Factorization) -> torch.Tensor:
    return q.partition - _inner(p.marginals, q.log_potentials) - entropy(p)


def _log_mixed_partition(p: Factorization, q: Factorization, beta: float) -> torch.Tensor:
    """``(B,)`` log sum_y p(y)^(1-beta) q(y)^beta = A((1-beta) phi_p + beta phi_q) - (1-beta) A_p - beta A_q."""
    mixed = p.with_potentials((1 - beta) * _finite(p.log_potentials) + beta * _finite(q.log_potentials))
    return mixed.partition - (1 - beta) * p.partition - beta * q.partition


def _xlogx(x: torch.Tensor) -> torch.Tensor:
    """x log x with 0 (and a zero gradient) at x = 0."""
    positive = x > 0
    return torch.where(positive, x * torch.where(positive, x, torch.ones_like(x)).log(), torch.zeros_like(x))


def _groups(marginals: torch.Tensor) -> torch.Tensor:
    """``(B, P, G)``: a position's substructures (a token's labels or label pairs, a word's heads) per row."""
    return marginals.flatten(2)


def _group_js(p: torch.Tensor, q: torch.Tensor, beta: float) -> torch.Tensor:
    """``(B, P)`` JS_beta between the distributions of each row of ``(B, P, G)`` probabilities."""
    m = (1 - beta) * p + beta * q
    return ((1 - beta) * _xlogx(p) + beta * _xlogx(q) - _xlogx(m)).sum(-1)


def _group_tv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return 0.5 * (p - q).abs().sum(-1)


def _markov_entropy(pairs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the entropy of the chain whose pair marginals are ``pairs`` ``(B, N, C, C)``:
    ``-sum_{i,p,c} P log P + sum_{i < n-1} sum_c P_i(c) log P_i(c)``."""
    has_next = torch.arange(pairs.shape[1], device=pairs.device) < (lengths - 1).unsqueeze(-1)  # (B, N)
    unary = _xlogx(pairs.sum(-2)).sum(-1)  # (B, N)
    return -_xlogx(pairs).flatten(1).sum(-1) + (unary * has_next).sum(-1)


class _Steps(NamedTuple):
    """Two chains' previous-label marginals ``(B, N, C, 1)`` and conditionals ``(B, N, C, C)``."""

    prev_p: torch.Tensor
    prev_q: torch.Tensor
    cond_p: torch.Tensor
    cond_q: torch.Tensor


def _steps(mu_p: torch.Tensor, mu_q: torch.Tensor) -> _Steps:
    """P(y_i = c | y_{i-1} = p) of both chains from their pair marginals; where ``p`` has no mass under one
    chain, the other's conditional (the tightest choice for the step-wise bounds)."""
    prev_p, prev_q = _previous_unary(mu_p).unsqueeze(-1), _previous_unary(mu_q).unsqueeze(-1)
    own_p = mu_p / torch.where(prev_p > 0, prev_p, torch.ones_like(prev_p))
    own_q = mu_q / torch.where(prev_q > 0, prev_q, torch.ones_like(prev_q))
    return _Steps(prev_p, prev_q, torch.where(prev_p > 0, own_p, own_q), torch.where(prev_q > 0, own_q, own_p))


# ----------------------------------------------------------------------------- the public divergences
def kl(teacher, student: Factorization) -> Divergence:
    """KL(p~_t || p_s), exact: structural KD minus the entropy of ``p~_t``."""
    return Divergence(_kl(teacher_view(teacher, student), student), "exact", "kl")


def reverse_kl(teacher, student: Factorization) -> Divergence:
    """KL(p_s || p~_t), exact; its gradient goes through the student's marginals (a Hessian-vector product)."""
    return Divergence(_reverse_kl(teacher_view(teacher, student), student), "exact", "rkl")


def _reverse_kl(p: Factorization, q: Factorization) -> torch.Tensor:
    """``A_p - A_q + <mu_q, phi_q - phi_p>``; its gradient is ``H_q (phi_q - phi_p)`` for the student's
    potentials (:meth:`~structkd.structs.base.Factorization.derivatives`) and ``mu_p - mu_q`` for the
    teacher's."""
    student, teacher = _finite(q.log_potentials), _finite(p.log_potentials)
    learns = q.log_potentials.requires_grad and torch.is_grad_enabled()
    log_z, mu, hessian_gap = q.derivatives(student.detach() - teacher.detach() if learns else None)
    value = p.partition - log_z + _inner(mu, student.detach()) - _inner(mu, teacher)
    if learns:
        value = value + (hessian_gap * (student - student.detach())).flatten(1).sum(-1)
    return value


def js(teacher, student: Factorization, beta: float = 0.5) -> Divergence:
    """The tightest exact upper bound on JS_beta(p~_t, p_s) for the student's structure: the chain (Markov)
    bound for chains, the sum over positions for MaxEnt and head selection, the geometric bound for trees."""
    return Divergence(_js_upper(teacher_view(teacher, student), student, _checked_beta(beta)), "upper", "js")


def _js_upper(p: Factorization, q: Factorization, beta: float) -> torch.Tensor:
    if isinstance(q, LinearChainCRF):
        return _js_markov(p, q, beta)
    if isinstance(q, (MaxEnt, HeadSelection)):
        return _group_js(_groups(p.marginals), _groups(q.marginals), beta).sum(-1)
    return _js_geometric(p, q, beta)


def _js_markov(p: LinearChainCRF, q: LinearChainCRF, beta: float) -> torch.Tensor:
    mu_p, mu_q = p.marginals, q.marginals
    mixed = (1 - beta) * mu_p + beta * mu_q
    return (_markov_entropy(mixed, q.lengths) - (1 - beta) * _markov_entropy(mu_p, q.lengths)
            - beta * _markov_entropy(mu_q, q.lengths))


def _js_geometric(p: Factorization, q: Factorization, beta: float) -> torch.Tensor:
    both = _kl(p, q) + _reverse_kl(p, q)
    return beta * (1 - beta) * both + _log_mixed_partition(p, q, beta)


def js_geometric(teacher, student: Factorization, beta: float = 0.5) -> Divergence:
    """Upper bound on JS_beta for every structure, through the geometric mixture ``r ∝ p^(1-beta) q^beta``:
    ``beta (1 - beta) (KL + RKL) + log sum_y p^(1-beta) q^beta``."""
    return Divergence(_js_geometric(teacher_view(teacher, student), student, _checked_beta(beta)), "upper",
                      "js_geometric")


def js_stepwise(teacher, student: LinearChainCRF, beta: float = 0.5) -> Divergence:
    """f-DISTILL's step-wise JS_beta for chains, summed exactly over prefixes: ``(1 - beta) E_p[sum_i KL(p_i ||
    m~_i)] + beta E_q[sum_i KL(q_i || m~_i)]`` with ``m~_i = (1 - beta) p(. | y_{i-1}) + beta q(. | y_{i-1})``.
    An upper bound, never below :func:`js`'s chain bound."""
    if not isinstance(student, LinearChainCRF):
        raise ProjectionError(f"the step-wise JS is defined for chain students, not {type(student).__name__}")
    beta = _checked_beta(beta)
    p = teacher_view(teacher, student)
    mu_p, mu_q = p.marginals, student.marginals
    _, _, cond_p, cond_q = _steps(mu_p, mu_q)
    log_mix = _safe_log((1 - beta) * cond_p + beta * cond_q)
    value = ((1 - beta) * _weighted_log_ratio(mu_p, cond_p, log_mix)
             + beta * _weighted_log_ratio(mu_q, cond_q, log_mix))
    return Divergence(value, "upper", "js_stepwise")


def _safe_log(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.ones_like(x)).log()


def _weighted_log_ratio(weights: torch.Tensor, cond: torch.Tensor, log_mix: torch.Tensor) -> torch.Tensor:
    """``(B,)`` sum w (log cond - log_mix) over the entries with w > 0."""
    terms = weights * (_safe_log(cond) - log_mix)
    return torch.where(weights > 0, terms, torch.zeros_like(terms)).flatten(1).sum(-1)


def js_lower(teacher, student: Factorization, beta: float = 0.5) -> Divergence:
    """Lower bound on JS_beta: the largest JS_beta between one position's marginals (label pairs of a chain,
    labels, a word's heads), by data processing."""
    p = teacher_view(teacher, student)
    rows = _group_js(_groups(p.marginals), _groups(student.marginals), _checked_beta(beta))
    return Divergence(rows.amax(-1), "lower", "js_lower")


def hellinger(teacher, student: Factorization) -> Divergence:
    """Squared Hellinger distance ``1 - BC`` with the exact Bhattacharyya coefficient
    ``BC = sum_y sqrt(p~_t(y) p_s(y))``."""
    log_bc = _log_mixed_partition(teacher_view(teacher, student), student, 0.5)
    return Divergence(-torch.expm1(log_bc), "exact", "hellinger")


def tvd(teacher, student: Factorization) -> Divergence:
    """The tightest exact upper bound on TV(p~_t, p_s) for the student's structure: the step-wise bound for
    chains, the sum over positions for MaxEnt and head selection, ``sqrt(1 - BC^2)`` for trees."""
    return Divergence(_tvd_upper(teacher_view(teacher, student), student), "upper", "tvd")


def _tvd_upper(p: Factorization, q: Factorization) -> torch.Tensor:
    if isinstance(q, LinearChainCRF):
        mu_p, mu_q = p.marginals, q.marginals
        prev_p, prev_q, cond_p, cond_q = _steps(mu_p, mu_q)
        teacher_weighted = 0.5 * (mu_p - prev_p * cond_q).abs().flatten(1).sum(-1)
        student_weighted = 0.5 * (prev_q * cond_p - mu_q).abs().flatten(1).sum(-1)
        return torch.minimum(teacher_weighted, student_weighted)
    if isinstance(q, (MaxEnt, HeadSelection)):
        return _group_tv(_groups(p.marginals), _groups(q.marginals)).sum(-1)
    bc = _log_mixed_partition(p, q, 0.5).exp()
    return (1 - bc.square()).clamp_min(torch.finfo(bc.dtype).eps).sqrt()


def tvd_lower(teacher, student: Factorization) -> Divergence:
    """Lower bound on TV: ``max(1 - BC, max over positions of TV of the position's marginals)``."""
    p = teacher_view(teacher, student)
    rows = _group_tv(_groups(p.marginals), _groups(student.marginals)).amax(-1)
    return Divergence(torch.maximum(rows, -torch.expm1(_log_mixed_partition(p, student, 0.5))), "lower",
                      "tvd_lower")


# ----------------------------------------------------------------------------- sampled estimates
def js_estimate(teacher, student: Factorization, samples: int = 32, beta: float = 0.5,
                generator: torch.Generator | None = None) -> Divergence:
    """Unbiased estimate of JS_beta from ``samples`` exact samples of ``p~_t`` and of ``p_s`` each, with its
    standard error; the value's gradient is the student's score-function gradient (the teacher held fixed)."""
    beta = _checked_beta(beta)
    p = teacher_view(teacher, student)
    (lp_p, lq_p), (lp_q, lq_q) = _sample_log_probs(p, student, samples, generator)
    f_p = lp_p - _log_mixture(lp_p, lq_p, beta)  # log(p/m) on the teacher's samples
    f_q = (lq_q - _log_mixture(lp_q, lq_q, beta)).detach()  # log(q/m) on the student's
    value = (1 - beta) * f_p.mean(0) + beta * f_q.mean(0)
    stderr = (((1 - beta) ** 2 * f_p.var(0) + beta**2 * f_q.var(0)) / samples).sqrt()
    return Divergence(_with_score_gradient(value, beta * f_q, lq_q), "estimate", "js_estimate", stderr.detach())


def tvd_estimate(teacher, student: Factorization, samples: int = 32,
                 generator: torch.Generator | None = None) -> Divergence:
    """Unbiased estimate of TV from exact samples of both, ``(E_q[max(0, 1 - p/q)] + E_p[max(0, 1 - q/p)]) / 2``,
    with its standard error; gradient ``E_q[sign(q - p) grad log q] / 2`` (the teacher held fixed)."""
    p = teacher_view(teacher, student)
    (lp_p, lq_p), (lp_q, lq_q) = _sample_log_probs(p, student, samples, generator)
    on_p = (-torch.expm1(lq_p - lp_p)).clamp_min(0).detach()
    on_q = (-torch.expm1(lp_q - lq_q)).clamp_min(0).detach()
    value = 0.5 * (on_p.mean(0) + on_q.mean(0))
    stderr = 0.5 * ((on_p.var(0) + on_q.var(0)) / samples).sqrt()
    signs = 0.5 * torch.sign(lq_q - lp_q).detach()
    return Divergence(_with_score_gradient(value, signs, lq_q), "estimate", "tvd_estimate", stderr)


def _sample_log_probs(p: Factorization, q: Factorization, samples: int, generator):
    """``((log p, log q) on p's samples, (log p, log q) on q's samples)``, each ``(K, B)``."""
    if samples < 2:
        raise ValueError(f"sampled estimates need at least 2 samples (for the baseline), got {samples}")
    out = []
    for dist in (p, q):
        ys = sample(dist, samples, generator)
        out.append((torch.stack([p.log_prob_of(y) for y in ys]), torch.stack([q.log_prob_of(y) for y in ys])))
    return out


def _log_mixture(log_p: torch.Tensor, log_q: torch.Tensor, beta: float) -> torch.Tensor:
    """log((1 - beta) p + beta q), safe at beta = 0 or 1."""
    if beta == 0:
        return log_p
    if beta == 1:
        return log_q
    return torch.logaddexp(math.log(1 - beta) + log_p, math.log(beta) + log_q)


def _with_score_gradient(value: torch.Tensor, signal: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``value`` (detached) whose gradient is ``mean_k (signal_k - baseline_k) grad log q(y_k)``, the baseline of
    sample ``k`` the mean signal of the other samples (unbiased: it does not depend on ``y_k``)."""
    signal = signal.detach()
    baseline = (signal.sum(0, keepdim=True) - signal) / (len(signal) - 1)
    surrogate = ((signal - baseline) * log_q).mean(0)
    return value.detach() + surrogate - surrogate.detach()


def _checked_beta(beta: float) -> float:
    if not 0 <= beta <= 1:
        raise ValueError(f"the JS skew beta must lie in [0, 1], got {beta}")
    return float(beta)


# ----------------------------------------------------------------------------- training objectives
def objective(method: str, p: Factorization, q: Factorization, beta: float = 0.5) -> torch.Tensor:
    """``(B,)`` the training value of the divergence ``method`` (:data:`OBJECTIVES`) between ``p = p~_t`` and the
    student ``q``: KL and reverse KL exact, JS and TV their tightest exact upper bound."""
    if method == "kl":
        return _kl(p, q)
    if method == "rkl":
        return _reverse_kl(p, q)
    if method == "js":
        return _js_upper(p, q, _checked_beta(beta))
    if method == "tvd":
        return _tvd_upper(p, q)
    raise ValueError(f"unknown divergence {method!r}; choose from {OBJECTIVES}")
