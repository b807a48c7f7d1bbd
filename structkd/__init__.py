"""structkd: knowledge distillation of structured predictors.

The public API::

    from structkd import LinearChainCRF, MaxEnt, kd_loss
    teacher = LinearChainCRF.from_emissions(emissions, transitions, lengths)
    student = MaxEnt(student_scores, lengths)
    loss = kd_loss(teacher, student)          # (B,) structural KD, one value per sentence
"""
from .objectives import (
    annealed_lambda, cross_entropy, gold_loss, kd_from_marginals, kd_loss, kd_targets, kd_term, label_cross_entropy,
)
from .projections import ProjectionError, project, scenario
from .schemes import allowed_transitions, constraint_scores
from .structs import (
    Factorization,
    HeadSelection,
    LinearChainCRF,
    MaxEnt,
    NonProjectiveDependencyCRF,
    ProjectiveDependencyCRF,
    SiblingMeanField,
    SpanSegmentation,
)

__version__ = "0.1.0"

__all__ = [
    "Factorization", "LinearChainCRF", "MaxEnt", "HeadSelection", "ProjectiveDependencyCRF",
    "NonProjectiveDependencyCRF", "SiblingMeanField", "SpanSegmentation",
    "project", "scenario", "ProjectionError", "kd_loss", "kd_term", "kd_targets", "kd_from_marginals", "cross_entropy", "gold_loss",
    "label_cross_entropy",
    "annealed_lambda", "allowed_transitions", "constraint_scores", "__version__",
]
