"""Distillation objectives: structural KD and the baselines it is compared with.

Structural KD (Wang et al. 2021): the cross-entropy between teacher and student over all outputs,

    L_KD = - sum_y p_t(y) log p_s(y) = - sum_{u in U_s} P_t(u) s_s(u) + log Z_s,

where P_t(u) are the teacher's marginals over the student's substructures (:mod:`structkd.projections`).
The training loss interpolates with the gold loss ``L_gold = -log p_s(y*)``:

    L = lam * L_KD + (1 - lam) * L_gold      (sentences without gold: L = L_KD)

Temperature ``T`` (both modes divide the student's scores by T and multiply L_KD by T^2):

* ``"local"``: the projected teacher marginals are tempered per substructure group (all substructures
  of one position: a token's labels or label pairs, a word's heads): P <- softmax(log P / T);
* ``"global"``: the teacher's potentials are divided by T before inference.

Baselines (same interface, ``method=``): ``"token"`` -- the teacher's local per-position distributions
(the softmax of its emissions, or of its per-word head scores) against the student's local softmax;
``"posterior"`` -- the teacher's per-position marginals against the student's own structured marginals; ``"topk"`` -- the teacher's K best outputs,
weighted by their probabilities renormalised over the K, as sequence-level KD approximations do.

Divergences (:mod:`structkd.divergences`, f-DISTILL): ``"kl"`` and ``"rkl"`` (exact), ``"js"`` and ``"tvd"``
(their tightest exact upper bound), between the teacher brought into the student's family and the student.
``"kl"`` has structural KD's gradient (the two differ by the teacher's entropy, a constant).  Their cached
targets are the teacher's marginals over the student's substructures, or its arc scores for a tree student;
the temperature divides both distributions' potentials (local mode) or the teacher's before it is brought
into the student's family (global mode).
"""
from __future__ import annotations

import torch

from . import divergences
from .projections import ProjectionError, check_pair, project
from .structs.base import Factorization
from .structs.chain import LinearChainCRF
from .structs.local import HeadSelection, MaxEnt
from .structs.second_order import SiblingMeanField
from .structs.tree import NonProjectiveDependencyCRF, ProjectiveDependencyCRF

METHODS = ("structural", "token", "posterior", "topk", *divergences.OBJECTIVES)
#: teachers whose k best outputs a torch-struct k-max semiring gives, in a compact form (labels or heads)
#: that every student they pair with reads.
TOPK_TEACHERS = (LinearChainCRF, MaxEnt, HeadSelection, ProjectiveDependencyCRF)
TEMPERATURE_MODES = ("local", "global")


def cross_entropy(teacher_marginals: torch.Tensor, student: Factorization) -> torch.Tensor:
    """``(B,)`` -sum_u P_t(u) s_s(u) + log Z_s: the factorized cross-entropy."""
    return student.log_partition - student.expected_score(teacher_marginals)


def temper_groups(marginals: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temper marginals per position group: ``(B, P, *group)`` -> softmax over the group of log P / T.

    Groups with no mass (padding) stay zero.
    """
    if temperature == 1:
        return marginals
    flat = marginals.flatten(2)
    tempered = (flat.log() / temperature).softmax(-1).nan_to_num(0.0)
    return tempered.view_as(marginals)


def token_view(student: Factorization, marginals: torch.Tensor) -> torch.Tensor:
    """Reduce marginals over the student's substructures to per-position distributions:
    label pairs ``(B, N, C, C)`` -> labels ``(B, N, C)``; labels and arcs stay as they are."""
    return marginals.sum(-2) if isinstance(student, LinearChainCRF) else marginals


def local_view(dist) -> Factorization | None:
    """A model's per-position softmax: MaxEnt over a chain's emissions, head selection over a tree's (or a
    second-order model's first-order) arc scores; None for a span model, which has no per-token scores."""
    if isinstance(dist, (MaxEnt, HeadSelection)):
        return dist
    if isinstance(dist, LinearChainCRF):
        if dist.emissions is None:
            raise ProjectionError("token-level KD with a LinearChainCRF needs one built by from_emissions()")
        return MaxEnt(dist.emissions, dist.lengths, dist.labels)
    if isinstance(dist, (ProjectiveDependencyCRF, NonProjectiveDependencyCRF)):
        return HeadSelection(dist.log_potentials, dist.lengths)
    if isinstance(dist, SiblingMeanField):
        return HeadSelection(dist.arc_scores, dist.lengths)
    return None


def compact_output(dist, parts: torch.Tensor) -> torch.Tensor:
    """0/1 parts of one output -> its compact form: ``(B, N)`` labels or ``(B, N+1)`` heads."""
    return token_view(dist, parts).argmax(-1)


def kd_term(teacher, student: Factorization, method: str = "structural", temperature: float = 1.0,
            temperature_mode: str = "local", k: int = 5, beta: float = 0.5) -> torch.Tensor:
    """``(B,)`` the distillation term L_KD of ``method`` (see the module docstring), times T^2; ``beta`` is the
    skew of "js"."""
    if method not in METHODS:
        raise ValueError(f"unknown KD method {method!r}; choose from {METHODS}")
    _check_temperature(temperature, temperature_mode)
    teacher_t = teacher.tempered(temperature if temperature_mode == "global" else 1.0)
    if method == "topk":
        return _topk_kd(teacher_t, student.tempered(temperature), k) * temperature**2
    local = temperature if temperature_mode == "local" else 1.0
    return kd_from_marginals(kd_targets(teacher_t, student, method), student, method, temperature, local, beta)


def kd_targets(teacher, student: Factorization, method: str = "structural") -> torch.Tensor:
    """What ``method`` needs from the teacher, a tensor that can be cached before training:

    * "structural", "posterior": the teacher's marginals over the student's substructures (:func:`project`);
    * "token": the teacher's own per-position distributions over the student's per-position choices -- the
      softmax of its emissions (a CRF) or of its arc scores (a parser), as token-level KD uses them; a
      teacher without local scores (span NER) gives its exact per-position marginals instead;
    * the divergences: :func:`structkd.divergences.divergence_targets` (marginals, or a tree student's teacher
      arc scores).
    """
    if method in divergences.OBJECTIVES:
        return divergences.divergence_targets(teacher, student)
    if method != "token":
        return project(teacher, student)
    check_pair(teacher, student)
    local = local_view(teacher)
    return token_view(student, project(teacher, student)) if local is None else local.marginals


def kd_from_marginals(marginals: torch.Tensor, student: Factorization, method: str = "structural",
                      temperature: float = 1.0, local_temperature: float = 1.0, beta: float = 0.5) -> torch.Tensor:
    """``(B,)`` L_KD from the cached teacher targets of :func:`kd_targets`, times T^2.

    ``temperature`` divides the student's scores; ``local_temperature`` tempers the targets per group
    (equal to ``temperature`` in "local" mode, 1 in "global" mode, where the cached targets already
    come from the tempered teacher); for a divergence it divides the potentials of the teacher brought into
    the student's family.  ``beta``: the skew of "js".
    """
    if method in divergences.OBJECTIVES:
        teacher_view = divergences.view_from_targets(marginals, student, local_temperature)
        loss = divergences.objective(method, teacher_view, student.tempered(temperature), beta)
    elif method == "structural":
        loss = cross_entropy(temper_groups(marginals, local_temperature), student.tempered(temperature))
    elif method == "token":
        loss = cross_entropy(temper_groups(marginals, local_temperature), local_view(student).tempered(temperature))
    elif method == "posterior":
        target = temper_groups(token_view(student, marginals), local_temperature)
        student_t = student.tempered(temperature)
        own = token_view(student_t, student_t.marginals)
        loss = -(target * own.clamp_min(torch.finfo(own.dtype).tiny).log()).flatten(1).sum(-1)
    else:
        raise ValueError(f"KD method {method!r} needs the teacher itself, not its marginals")
    return loss * temperature**2


def label_cross_entropy(weights: torch.Tensor, teacher_probs: torch.Tensor, student_scores: torch.Tensor,
                        temperature: float = 1.0, local_temperature: float = 1.0) -> torch.Tensor:
    """``(B,)`` relation-label KD of a parser, times T^2:

        L_rel = - sum_{m,k} w[m,k] sum_r q_t(r | a_mk) log softmax_r(s_s(a_mk) / T)

    over the arcs ``a_mk`` (a candidate head of word ``m``) of ``weights`` ``(B, N, K)`` (the teacher's arc
    marginals, zero on padding), with the teacher's relation distributions ``teacher_probs`` ``(B, N, K, R)`` on
    them (tempered per arc by ``local_temperature``) and the student's relation scores ``student_scores``
    ``(B, N, K, R)``.  With every head of every word (K = N + 1) this is exactly the relation part of the
    cross-entropy between labelled-tree distributions ``p(y, r) = p(y) prod_m p(r_m | h_m -> m)``:
    ``CE = CE_arcs + L_rel``.
    """
    q = temper_groups(teacher_probs.flatten(1, 2), local_temperature).view_as(teacher_probs)
    log_p = (student_scores / temperature).log_softmax(-1)
    return (weights * -(q * log_p).sum(-1)).flatten(1).sum(-1) * temperature**2


def _check_temperature(temperature: float, temperature_mode: str) -> None:
    if temperature_mode not in TEMPERATURE_MODES:
        raise ValueError(f"unknown temperature mode {temperature_mode!r}; choose from {TEMPERATURE_MODES}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")


def _topk_kd(teacher, student: Factorization, k: int) -> torch.Tensor:
    """-sum_k w_k log p_s(y_k), y_k the teacher's k best outputs, w = softmax_k(log p_t(y_k))."""
    outputs, weights = teacher_topk(teacher, student, k)
    return topk_cross_entropy(outputs, weights, student)


def teacher_topk(teacher, student: Factorization, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's ``k`` best outputs in compact form ``(K, B, N)`` (labels) or ``(K, B, N+1)`` (heads)
    and their probabilities renormalised over the K, ``(K, B)``: the targets of Top-K KD (cacheable)."""
    check_pair(teacher, student)
    if not isinstance(teacher, TOPK_TEACHERS):
        raise ProjectionError(
            f"Top-K KD needs a teacher with k-best decoding and a compact output the student shares "
            f"({', '.join(t.__name__ for t in TOPK_TEACHERS)}), not {type(teacher).__name__}"
        )
    with torch.no_grad():
        best = teacher.topk(k).detach()  # (K, B, *parts)
        outputs = torch.stack([compact_output(teacher, p) for p in best])  # (K, B, N[+1])
        scores = torch.stack([teacher.score(p) for p in best])  # (K, B)
        weights = scores.masked_fill(~real_outputs(outputs, scores), float("-inf")).softmax(0)
    return outputs, weights


def real_outputs(outputs: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``(K, B)`` bool: which entries of a K-best list are real outputs of their sentence.

    A sentence with fewer than K outputs (a one-token sentence has one per label) gets its list filled up by
    the k-max semiring with repeats of real outputs or with impossible ones (score -inf); a real K-best list
    holds every output once, so an entry equal to an earlier one of its sentence, or of score -inf, is filler.
    """
    same = (outputs.unsqueeze(0) == outputs.unsqueeze(1)).flatten(3).all(-1)  # (K, K, B): [j, k] output j == k
    earlier = torch.ones(len(outputs), len(outputs), dtype=torch.bool, device=outputs.device).tril(-1).T  # j < k
    repeat = (same & earlier.unsqueeze(-1)).any(0)  # (K, B)
    return ~repeat & torch.isfinite(scores)


def topk_cross_entropy(outputs: torch.Tensor, weights: torch.Tensor, student: Factorization) -> torch.Tensor:
    """``(B,)`` -sum_k weights[k] log p_s(outputs[k]) for compact outputs ``(K, B, ...)``; entries of weight 0
    (the filler of :func:`real_outputs`) count for nothing, even where the student gives them probability 0."""
    log_probs = torch.stack([student.log_prob_of(y) for y in outputs])
    return -torch.where(weights > 0, weights * log_probs, torch.zeros_like(log_probs)).sum(0)


def gold_loss(student: Factorization, gold: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -log p_s(y*) for compact gold outputs (labels ``(B, N)`` or heads ``(B, N+1)``)."""
    return -student.log_prob_of(gold)


def kd_loss(teacher, student: Factorization, *, method: str = "structural", lam: float = 1.0,
            gold: torch.Tensor | None = None, has_gold: torch.Tensor | None = None,
            temperature: float = 1.0, temperature_mode: str = "local", k: int = 5, beta: float = 0.5) -> torch.Tensor:
    """``(B,)`` per-sentence loss ``lam * L_KD + (1 - lam) * L_gold``.

    Args:
        teacher, student: factorizations over the same sentences (any supported pair).
        method: "structural", "token", "posterior", "topk", or a divergence: "kl", "rkl", "js", "tvd".
        lam: weight of the KD term (see :func:`annealed_lambda` for teacher annealing).
        gold: compact gold outputs for the student; required when ``lam < 1``.
        has_gold: ``(B,)`` bool, False for unlabeled transfer sentences (their loss is L_KD alone).
        temperature, temperature_mode: see the module docstring.
        k: the number of teacher outputs for "topk".
        beta: the skew of "js" (0.5: the symmetric Jensen-Shannon divergence).
    """
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    kd = kd_term(teacher, student, method, temperature, temperature_mode, k, beta) if lam > 0 else None
    if lam == 1:
        return kd
    if gold is None:
        raise ValueError("kd_loss with lam < 1 needs gold outputs")
    gl = gold_loss(student, gold)
    mixed = gl if kd is None else lam * kd + (1 - lam) * gl
    if has_gold is None:
        return mixed
    if kd is None:
        raise ValueError("sentences without gold (has_gold False) need lam > 0")
    return torch.where(has_gold, mixed, kd)


def annealed_lambda(progress: float, factor: float = 1.0) -> float:
    """Teacher annealing: ``lam = max(0, 1 - progress * factor)`` with ``progress`` in [0, 1]."""
    return max(0.0, 1.0 - progress * factor)
