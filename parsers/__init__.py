"""Dependency parsers: an encoder plus biaffine scorers giving a structkd tree factorization's potentials.

    from parsers import Parser
    parser = Parser(encoder, rels, structure="nonprojective")
    loss = parser.gold_loss(words, heads, rels)        # heads: 1-based, 0 = the root
    heads, rels = parser.eval().decode(words)
    teacher_dist = parser.factorization(words)         # for structkd.kd_loss
"""
from .model import STRUCTURES, Parser, ParserScores
from .trees import is_projective

__all__ = ["Parser", "ParserScores", "STRUCTURES", "is_projective"]
