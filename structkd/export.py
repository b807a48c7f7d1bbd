"""Export a model to a folder that :mod:`structkd.serve` runs with onnxruntime and no torch.

A model's encoder and score layers become ONNX graphs with dynamic batch and length axes; its decoder is one
of :mod:`structkd.decoders`, named in the manifest with the arrays it needs.  The graphs are traced by
``torch.onnx.export``'s TorchScript exporter (``dynamo=False``): the torch.export-based one fixes the sequence
length of an LSTM to the traced one in torch 2.13 (its runs on other lengths fail with "invalid expand shape").  The folder::

    manifest.json        what the folder holds: the task, the encoder's inputs, each graph's inputs and
                         outputs, the decoder and its options (labels, scheme, root constraint)
    scores.onnx          encoder + score layers: the inputs of :mod:`structkd.serve.inputs` -> scores
    labels.onnx          (parsers) the label scores of the decoded arcs
    arrays.safetensors   NumPy arrays of the decoder (a CRF's transitions), when it has any
    encoder/             the encoder's vocabularies, or its tokenizer files

Every graph is checked right after it is written: onnxruntime on inputs of other shapes than the traced ones
(:data:`CHECK_SENTENCES`: another batch size, length 1, longer words) must give the scores of the eval-mode
torch module within ``tolerance``, or the export fails.  A task family says what to export with
a :class:`Graph` per graph (see ``taggers.export`` and ``parsers.export``); nothing here knows a model class.
"""
from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .encoders.export import preprocessing
from .persistence import partial_folder, replace_folder, write_json
from .serve.inputs import build_inputs
from .serve.manifest import ARRAYS_FILE, ENCODER_FOLDER, FORMAT, MANIFEST_FILE, VERSION

#: the sentences whose inputs are traced (two lengths, so that padding is traced too)
TRACE_SENTENCES = [["The", "export", "example", "sentence", "."], ["Hello", "world"]]
#: the sentences of the check after the export: other shapes than the traced ones, unknown words, length 1
CHECK_SENTENCES = [["Checked"], ["An", "unknown", "wordthatnobodyhasseen", "and", "some", "more", "words", "!"],
                   ["Three", "short", "ones"]]


@dataclass
class Graph:
    """One graph of an export: ``module(*inputs)`` -> ``outputs`` tensors, all named.

    Every axis of an integer input is dynamic, every axis but the last (the features) of a float one."""
    name: str  #: the file is ``{name}.onnx``
    module: nn.Module
    inputs: dict[str, torch.Tensor]  #: traced inputs by name, in the module's argument order
    check: dict[str, torch.Tensor]  #: inputs of other shapes, for the check after the export
    outputs: list[str]


def export_model(model: nn.Module, folder: str | Path, task: str, graphs: Sequence[Graph], decoder: dict,
                 arrays: dict[str, np.ndarray] | None = None, tolerance: float = 1e-4) -> Path:
    """Write the export folder of ``model`` (eval mode, CPU; its ``encoder`` gives the inputs): each of
    ``graphs``, the ``decoder`` spec and its ``arrays``.  The folder is written beside its place and renamed
    into it at the end (as model folders are, :func:`structkd.persistence.replace_folder`), so a failed or killed
    export leaves the old folder or none, never a part."""
    folder = Path(folder)
    partial = partial_folder(folder)
    try:
        model.encoder.save_assets(partial / ENCODER_FOLDER)
        manifest = {"format": FORMAT, "version": VERSION, "task": task, "inputs": preprocessing(model.encoder),
                    "decoder": decoder, "graphs": {}}
        if arrays:
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(partial / ARRAYS_FILE))
        for graph in graphs:
            write_graph(graph, partial / f"{graph.name}.onnx", tolerance)
            manifest["graphs"][graph.name] = {"file": f"{graph.name}.onnx", "inputs": list(graph.inputs),
                                              "outputs": graph.outputs}
        write_json(partial, MANIFEST_FILE, manifest)
        replace_folder(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def example_inputs(encoder: nn.Module, *sentence_sets: Sequence[Sequence[str]]) -> list[dict[str, torch.Tensor]]:
    """The encoder graph's inputs of each set of sentences, built as the predictor builds them (from the assets
    the encoder saves, saved once), as tensors."""
    with tempfile.TemporaryDirectory() as scratch:
        encoder.save_assets(scratch)
        build = build_inputs(Path(scratch), preprocessing(encoder))
        return [{name: torch.from_numpy(array) for name, array in build(sentences).items()}
                for sentences in sentence_sets]


def write_graph(graph: Graph, path: Path, tolerance: float) -> None:
    """Export ``graph`` to ``path``, then compare onnxruntime with torch on the check inputs (ValueError past
    ``tolerance``, relative to the largest score, naming the output)."""
    module = graph.module.eval()
    axes = {name: {axis: f"{name}_{axis}" for axis in range(t.dim() - t.is_floating_point())}
            for name, t in graph.inputs.items()}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and internals
        torch.onnx.export(module, tuple(graph.inputs.values()), str(path), input_names=list(graph.inputs),
                          output_names=graph.outputs, dynamic_axes=axes, dynamo=False)
        expected = module(*graph.check.values())
    expected = [expected] if torch.is_tensor(expected) else list(expected)
    from .serve.runtime import session

    got = session(path).run(graph.outputs, {k: v.numpy() for k, v in graph.check.items()})
    for name, want, have in zip(graph.outputs, expected, got):
        error = float(np.abs(want.numpy() - have).max()) if want.numel() else 0.0
        if not error <= tolerance * max(1.0, float(want.abs().max())):
            raise ValueError(f"{path}: onnxruntime's {name} differ from torch's by {error:.3g} on the check inputs")
