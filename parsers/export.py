"""Export a :class:`~parsers.Parser` for onnxruntime (:mod:`structkd.export`): two graphs and a tree decoder.

* ``scores``: the encoder graph's inputs -> ``arcs (B, N+1, N+1)`` (for "sibling": the log mean-field arc
  marginals, which its MST decodes), ``rel_dependents`` and ``rel_heads`` (the label scorer's role vectors);
* ``labels``: ``rel_dependents``, ``rel_heads`` and the decoded ``heads (B, N+1)`` -> ``rels (B, N+1, R)``,
  the label scores of the decoded arcs only (as :meth:`Parser.rel_scores`);
* decoder by structure: ``eisner`` ("projective"), ``mst`` ("nonprojective", "local", "sibling"),
  ``argmax_heads`` ("head-selection"), with the model's root constraint.

Example::

    >>> export_parser(load("runs/parser/best"), "runs/parser/onnx")   # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from structkd import SiblingMeanField
from structkd.encoders.export import encoder_graph
from structkd.export import CHECK_SENTENCES, TRACE_SENTENCES, Graph, example_inputs, export_model

from .model import Parser

DECODERS = {"projective": "eisner", "nonprojective": "mst", "local": "mst", "sibling": "mst",
            "head-selection": "argmax_heads"}


class ParserScoresGraph(nn.Module):
    """Arc scores (or log mean-field marginals) and the label scorer's role vectors of the encoder graph's
    inputs."""

    def __init__(self, parser: Parser):
        super().__init__()
        self.parser, self.encoder = parser, encoder_graph(parser.encoder)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scores = self.parser.score_vectors(self.encoder(*inputs), inputs[-1])
        arcs = scores.arcs
        if scores.siblings is not None:
            q = SiblingMeanField(arcs, scores.siblings, scores.lengths, self.parser.iterations,
                                 self.parser.multiroot).marginals
            arcs = q.clamp_min(torch.finfo(q.dtype).tiny).log()
        return arcs, scores.rel_dependents, scores.rel_heads


class ParserLabelsGraph(nn.Module):
    """``(B, N+1, R)`` label scores of the arcs ``heads[b, m] -> m``."""

    def __init__(self, parser: Parser):
        super().__init__()
        self.scorer = parser.rel_scorer

    def forward(self, rel_dependents: torch.Tensor, rel_heads: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        return self.scorer.at_heads(rel_dependents, rel_heads, heads)


def export_parser(parser: Parser, folder: str | Path) -> Path:
    """Write the export folder of ``parser`` (moved to the CPU, eval mode) and return its path."""
    parser = parser.cpu().eval()
    scores = ParserScoresGraph(parser)
    inputs = dict(zip(("trace", "check"), example_inputs(parser.encoder, TRACE_SENTENCES, CHECK_SENTENCES)))
    labels = {kind: label_inputs(scores, feeds) for kind, feeds in inputs.items()}
    graphs = [Graph("scores", scores, inputs["trace"], inputs["check"], ["arcs", "rel_dependents", "rel_heads"]),
              Graph("labels", ParserLabelsGraph(parser), labels["trace"], labels["check"], ["rels"])]
    decoder = {"name": DECODERS[parser.structure], "multiroot": parser.multiroot, "rels": parser.rels}
    return export_model(parser, folder, "dep", graphs, decoder)


def label_inputs(scores: ParserScoresGraph, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inputs of the labels graph for the sentences of ``feeds``: their role vectors and, as heads, every word
    headed by its left neighbour."""
    with torch.no_grad():
        arcs, dependents, heads_vectors = scores(*feeds.values())
    heads = torch.zeros(arcs.shape[:2], dtype=torch.long)
    heads[:, 1:] = torch.arange(arcs.shape[1] - 1)
    return {"rel_dependents": dependents, "rel_heads": heads_vectors, "heads": heads}
