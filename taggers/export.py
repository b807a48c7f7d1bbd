"""Export a :class:`~taggers.Tagger` for onnxruntime (:mod:`structkd.export`): encoder + head as one graph, the
decoder by head.

* "crf": graph output ``emissions (B, N, C)``; decoder ``viterbi`` over the constrained transitions, start
  and end scores (arrays ``transitions``, ``start``, ``end``: the BIO / BIOES constraints are their ``-inf``);
* "maxent": ``emissions (B, N, C)``; decoder ``argmax_labels``;
* "span": ``spans (B, N, N, R)``; decoder ``best_spans`` (``max_width``), written in the tag set's scheme.

Example::

    >>> export_tagger(load("runs/student/best"), "runs/student/onnx")   # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from structkd.encoders.export import encoder_graph
from structkd.export import CHECK_SENTENCES, TRACE_SENTENCES, Graph, example_inputs, export_model

from .heads import CRFHead, SpanHead
from .model import Tagger


class TaggerGraph(nn.Module):
    """The tagger's scores over the encoder graph's inputs (see :meth:`Tagger.potentials`)."""

    def __init__(self, tagger: Tagger):
        super().__init__()
        self.tagger, self.encoder = tagger, encoder_graph(tagger.encoder)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.tagger.potentials(self.encoder(*inputs))


def decoder_spec(tagger: Tagger) -> tuple[dict, dict]:
    """The manifest's decoder entry of ``tagger`` and the NumPy arrays it needs."""
    head = tagger.head
    if isinstance(head, SpanHead):
        return {"name": "best_spans", "types": head.types, "scheme": head.scheme, "max_width": head.max_width}, {}
    spec = {"name": "viterbi" if isinstance(head, CRFHead) else "argmax_labels", "tags": tagger.tags}
    if not isinstance(head, CRFHead):
        return spec, {}
    return spec, dict(zip(("transitions", "start", "end"), head.chain()))


def export_tagger(tagger: Tagger, folder: str | Path) -> Path:
    """Write the export folder of ``tagger`` (moved to the CPU, eval mode) and return its path."""
    tagger = tagger.cpu().eval()
    decoder, arrays = decoder_spec(tagger)
    output = "spans" if decoder["name"] == "best_spans" else "emissions"
    trace, check = example_inputs(tagger.encoder, TRACE_SENTENCES, CHECK_SENTENCES)
    graph = Graph("scores", TaggerGraph(tagger), trace, check, [output])
    return export_model(tagger, folder, "ner", [graph], decoder, arrays)
