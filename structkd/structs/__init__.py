"""Factorizations: structured distributions over torch-struct, each with log Z, marginals, score and decode."""
from .base import DynamicProgram, Factorization
from .chain import LinearChainCRF
from .local import HeadSelection, MaxEnt
from .second_order import SiblingMeanField
from .spans import SpanSegmentation, tag_marginals, tag_pair_marginals
from .tree import NonProjectiveDependencyCRF, ProjectiveDependencyCRF

__all__ = [
    "DynamicProgram", "Factorization", "LinearChainCRF", "MaxEnt", "HeadSelection", "SiblingMeanField",
    "SpanSegmentation", "tag_marginals", "tag_pair_marginals", "ProjectiveDependencyCRF",
    "NonProjectiveDependencyCRF",
]
