"""Scenario projections: the teacher's marginals over the *student's* substructures, P_t(u), u in U_s.

The four scenarios of Structural KD differ only here (DESIGN.md section 4):

1. same factorization (1a chain -> chain; 1b first-order tree / head selection -> head selection or
   first-order tree): the teacher's own marginals;
2. student finer (2a chain -> MaxEnt: P(i, c) = sum_p P(i, p, c); 2b second-order mean-field ->
   head selection or first-order: the mean-field arc marginals);
3. teacher finer (MaxEnt -> chain): P(i, p, c) = P(i-1, p) P(i, c), exact since the teacher's labels
   are independent (conditioned on the pairs the student allows, when its transitions are constrained);
4. incompatible (span NER -> BIO/BIOES MaxEnt or chain): exact tag and tag-pair marginals of the
   teacher's semi-Markov distribution.
"""
from __future__ import annotations

from typing import Callable

import torch

from .errors import UserError
from .structs.base import Factorization
from .structs.chain import LinearChainCRF
from .structs.local import HeadSelection, MaxEnt
from .structs.second_order import SiblingMeanField
from .structs.spans import SpanSegmentation, check_span_tags, tag_marginals, tag_pair_marginals
from .structs.tree import NonProjectiveDependencyCRF, ProjectiveDependencyCRF

FIRST_ORDER = (ProjectiveDependencyCRF, NonProjectiveDependencyCRF, HeadSelection)


class ProjectionError(UserError, ValueError):
    """A teacher/student pair that cannot be distilled (no projection, or mismatched labels/lengths)."""


def _same(teacher, student) -> torch.Tensor:
    return teacher.marginals


def _chain_to_tokens(teacher, student) -> torch.Tensor:
    return teacher.marginals.sum(-2)


def _tokens_to_chain(teacher, student) -> torch.Tensor:
    """The label-pair marginals of the teacher's independent labels, on the student's support.

    A chain whose pair potentials are ``log P_t(i, c)`` has exactly the teacher's distribution, so its
    marginals are ``P(i, p, c) = P(i-1, p) * P(i, c)`` (row 0 at ``i = 0``).  Pairs the student forbids
    (``-inf`` potentials: BIO/BIOES constraints) are forbidden in that chain too, which conditions the
    teacher on the outputs the student can produce, ``p_t(y | y allowed)``; without it the cross-entropy
    would be infinite.  With no forbidden pair the two are the same.
    """
    log_tokens = teacher.marginals.log()  # (B, N, C)
    allowed = torch.isfinite(student.log_potentials) | ~_positions(student).view(*student.log_potentials.shape[:2], 1, 1)
    potentials = log_tokens.unsqueeze(-2).expand_as(student.log_potentials).masked_fill(~allowed, float("-inf"))
    return LinearChainCRF(potentials, student.lengths).marginals


def _positions(dist) -> torch.Tensor:
    """``(B, N)`` True on the positions of each sentence."""
    n = dist.log_potentials.shape[1]
    return torch.arange(n, device=dist.lengths.device) < dist.lengths.unsqueeze(-1)


def _first_order(teacher, student) -> torch.Tensor:
    """The teacher's arc marginals, conditioned on the student's support when it is smaller.

    When the student cannot produce every output the teacher puts mass on (a head-selection teacher and a tree
    student; a multi-root teacher and a single-root student; a non-projective teacher and a projective student)
    the cross-entropy with the teacher itself is infinite.  An arc-factored teacher conditioned on the student's
    trees, ``p_t(y | y a student tree)``, is the student's own tree CRF over the teacher's arc scores (a
    head-selection teacher's per-word normalisers are constant over trees), so its marginals are exact, and the
    KD term is the exact cross-entropy with it (over the trees both can produce); with the same support the two
    are the same.  A mean-field
    second-order teacher defines no distribution over trees: its (approximate) arc marginals are used as they
    are, and for a tree student the KD term is then the student's expected score under them minus its log Z.
    """
    if isinstance(teacher, SiblingMeanField) or supports_contain(student, teacher):
        return teacher.marginals
    # the trees both can produce: projective if either is, several root children only if both allow them
    projective = ProjectiveDependencyCRF in (type(teacher), type(student))
    multiroot = student.multiroot and getattr(teacher, "multiroot", True)
    tree = ProjectiveDependencyCRF if projective else NonProjectiveDependencyCRF
    with torch.enable_grad():  # the tree CRFs take their marginals by autograd
        scores = teacher.log_potentials.detach().requires_grad_()
        return tree(scores, student.lengths, multiroot).marginals.detach()


def supports_contain(student, teacher) -> bool:
    """Whether every head vector the first-order ``teacher`` can produce is one the ``student`` can produce."""
    if isinstance(student, HeadSelection):
        return True
    if isinstance(teacher, HeadSelection):
        return False
    roots = student.multiroot or not teacher.multiroot
    return roots and (isinstance(student, NonProjectiveDependencyCRF) or isinstance(teacher, ProjectiveDependencyCRF))


def _spans_to_tokens(teacher, student) -> torch.Tensor:
    return tag_marginals(teacher, _require_labels(student, "student"), _require_labels(teacher, "teacher"))


def _spans_to_chain(teacher, student) -> torch.Tensor:
    return tag_pair_marginals(teacher, _require_labels(student, "student"), _require_labels(teacher, "teacher"))


#: (teacher class, student class) -> function(teacher, student) giving P_t over the student's substructures.
PROJECTIONS: dict[tuple[type, type], Callable] = {
    (LinearChainCRF, LinearChainCRF): _same,
    (MaxEnt, MaxEnt): _same,
    (LinearChainCRF, MaxEnt): _chain_to_tokens,
    (MaxEnt, LinearChainCRF): _tokens_to_chain,
    (SpanSegmentation, MaxEnt): _spans_to_tokens,
    (SpanSegmentation, LinearChainCRF): _spans_to_chain,
    **{(t, s): _first_order for t in FIRST_ORDER + (SiblingMeanField,) for s in FIRST_ORDER},
}

#: the scenario each pair belongs to, for messages and reports.
SCENARIOS = {
    (LinearChainCRF, LinearChainCRF): "1a", (MaxEnt, MaxEnt): "1a",
    (LinearChainCRF, MaxEnt): "2a", (MaxEnt, LinearChainCRF): "3",
    (SpanSegmentation, MaxEnt): "4", (SpanSegmentation, LinearChainCRF): "4",
    **{(t, s): "1b" for t in FIRST_ORDER for s in FIRST_ORDER},
    **{(SiblingMeanField, s): "2b" for s in FIRST_ORDER},
}


def _require_labels(dist, role: str) -> list[str]:
    if dist.labels is None:
        raise ProjectionError(
            f"the {role} {type(dist).__name__} needs label names (labels=...) for the span -> tag projection"
        )
    return dist.labels


def _label_dim(dist) -> int | None:
    if isinstance(dist, (LinearChainCRF, MaxEnt)):
        return dist.log_potentials.shape[-1]
    return None


def check_pair(teacher, student) -> None:
    """Raise :class:`ProjectionError` unless ``teacher`` can be distilled into ``student``."""
    key = (type(teacher), type(student))
    if key not in PROJECTIONS:
        pairs = ", ".join(f"{t.__name__}->{s.__name__}" for t, s in PROJECTIONS)
        raise ProjectionError(f"no projection from {key[0].__name__} to {key[1].__name__}; supported: {pairs}")
    if teacher.lengths.shape != student.lengths.shape or not torch.equal(teacher.lengths, student.lengths):
        raise ProjectionError(
            f"teacher and student sentence lengths differ: {teacher.lengths.tolist()} vs {student.lengths.tolist()}"
        )
    t_size, s_size = _padded_length(teacher), _padded_length(student)
    if t_size != s_size:
        raise ProjectionError(f"teacher and student are padded to different lengths: {t_size} vs {s_size}")
    if isinstance(teacher, SpanSegmentation):
        try:
            check_span_tags(_require_labels(student, "student"), _require_labels(teacher, "teacher"))
        except ValueError as error:
            raise ProjectionError(f"the student's tags do not fit the span teacher's entity types: {error}") from None
        return
    if teacher.labels is not None and student.labels is not None and teacher.labels != student.labels:
        raise ProjectionError(f"teacher and student label sets differ: {teacher.labels} vs {student.labels}")
    t_dim, s_dim = _label_dim(teacher), _label_dim(student)
    if t_dim is not None and s_dim is not None and t_dim != s_dim:
        raise ProjectionError(f"teacher has {t_dim} labels, student has {s_dim}")


def _padded_length(dist) -> int:
    return dist.arc_scores.shape[1] - 1 if isinstance(dist, SiblingMeanField) else dist.max_length(dist.log_potentials)


def project(teacher, student: Factorization) -> torch.Tensor:
    """The teacher's marginals over the student's substructures, shaped like ``student.log_potentials``."""
    check_pair(teacher, student)
    return PROJECTIONS[type(teacher), type(student)](teacher, student)


def scenario(teacher, student) -> str:
    """The Structural-KD scenario ("1a", "1b", "2a", "2b", "3" or "4") of a teacher/student pair."""
    check_pair(teacher, student)
    return SCENARIOS[type(teacher), type(student)]
