"""Exported models run with onnxruntime and NumPy, without torch: a tagger's tags, a parser's trees.

:func:`load_exported` reads a folder of :mod:`structkd.export`; the model it returns decodes batches of
pre-tokenised sentences exactly as the torch model's ``decode`` does (same inputs, same decoder, same label
names), and ``predict`` decodes any number of sentences in length-sorted batches, in their order.

Example::

    >>> tagger = load_exported("runs/student/onnx")                   # doctest: +SKIP
    >>> tagger.decode([["John", "lives", "in", "Paris", "."]])        # doctest: +SKIP
    [['B-PER', 'O', 'O', 'B-LOC', 'O']]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import decoders
from ..errors import UserError
from ..inference import decode_by_length
from ..schemes import spans_to_tags
from .inputs import build_inputs
from .manifest import ARRAYS_FILE, ENCODER_FOLDER, FORMAT, MANIFEST_FILE, VERSION
from .runtime import one_line, session


class ExportFolderError(UserError):
    """An export folder that cannot be read (the message names the folder and what is wrong)."""


class ExportedModel:
    """The graphs, inputs and decoder spec of an export folder; ``threads``: onnxruntime's intra-op threads."""

    task = ""

    def __init__(self, folder: str | Path, manifest: dict, threads: int | None = None):
        self.folder, self.manifest = Path(folder), manifest
        self.decoder = manifest["decoder"]
        self.inputs = build_inputs(self.folder / ENCODER_FOLDER, manifest["inputs"])
        # a parser's two graphs run one after the other with its decoder between: threads that spin after one
        # graph would take the cores from the next (measured: benchmarks/results/onnx.md)
        spinning = len(manifest["graphs"]) == 1
        self.graphs = {name: (session(self.folder / g["file"], threads, spinning), g["outputs"])
                       for name, g in manifest["graphs"].items()}
        self.arrays = {}
        if (self.folder / ARRAYS_FILE).exists():
            from safetensors.numpy import load_file

            self.arrays = load_file(str(self.folder / ARRAYS_FILE))

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs of ``graph`` (in the manifest's order) on ``feeds``."""
        runner, outputs = self.graphs[graph]
        return runner.run(outputs, feeds)

    def by_length(self, sentences: Sequence[Sequence[str]], batch_size: int, decode) -> list:
        """``decode`` (a batch -> one output per sentence) over ``sentences`` in batches of ``batch_size``
        sentences of similar length; the outputs in the order of ``sentences``."""
        return decode_by_length(list(sentences), [len(s) for s in sentences], batch_size, decode)


class ExportedTagger(ExportedModel):
    """``decode(words)`` -> the tags of every sentence (spans written in the tag set's scheme)."""

    task = "ner"

    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
        """The tags of every sentence (decoded in batches of similar length), in order."""
        return self.by_length(sentences, batch_size, self.decode)

    def decode(self, words: Sequence[Sequence[str]]) -> list[list[str]]:
        feeds = self.inputs(words)
        lengths = feeds["lengths"]
        scores = self.run("scores", feeds)[0]
        name = self.decoder["name"]
        if name == "best_spans":
            spans = decoders.best_spans(scores, lengths, self.decoder["max_width"])
            return [spans_to_tags(y, int(n), self.decoder["types"], self.decoder["scheme"])
                    for y, n in zip(spans, lengths)]
        if name == "viterbi":
            arrays = self.arrays
            phi = decoders.emission_pair_scores(scores, arrays["transitions"], arrays["start"], arrays["end"], lengths)
            labels = decoders.viterbi(phi, lengths)
        else:
            labels = decoders.argmax_labels(scores, lengths)
        tags = self.decoder["tags"]
        return [[tags[i] for i in row[:n]] for row, n in zip(labels.tolist(), lengths.tolist())]


class ExportedParser(ExportedModel):
    """``decode(words)`` -> ``(heads, rels)``: 1-based heads per word (0 = the root) and a relation per word."""

    task = "dep"

    def decode(self, words: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[str]]]:
        feeds = self.inputs(words)
        lengths = feeds["lengths"]
        arcs, dependents, heads_vectors = self.run("scores", feeds)
        name = self.decoder["name"]
        if name == "argmax_heads":
            heads = decoders.argmax_heads(arcs, lengths)
        else:
            heads = getattr(decoders, name)(arcs, lengths, self.decoder["multiroot"])
        rels = self.run("labels", {"rel_dependents": dependents, "rel_heads": heads_vectors,
                                   "heads": heads.astype(np.int64)})[0].argmax(-1)
        return decoders.tree_lists(heads, rels, lengths, self.decoder["rels"])

    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> tuple[list, list]:
        """Heads and relations of every sentence (decoded in batches of similar length), in order."""
        trees = self.by_length(sentences, batch_size, lambda batch: list(zip(*self.decode(batch))))
        return [list(h) for h, _ in trees], [list(r) for _, r in trees]


MODELS = {cls.task: cls for cls in (ExportedTagger, ExportedParser)}


def load_exported(folder: str | Path, task: str | None = None, threads: int | None = None) -> ExportedModel:
    """The exported model in ``folder`` (an :class:`ExportedTagger` or :class:`ExportedParser`); ``task``
    ("ner" or "dep"), when given, must be the folder's.  Raises :class:`ExportFolderError` naming the folder."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ExportFolderError(f"{folder}: not an exported model folder (no {MANIFEST_FILE}; write one with "
                                "structkd export)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportFolderError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ExportFolderError(f"{path}: not a {FORMAT} manifest of version {VERSION}")
    if manifest.get("task") not in MODELS or (task is not None and manifest["task"] != task):
        raise ExportFolderError(f"{folder}: an exported {manifest.get('task')!r} model, not a {task!r} one")
    missing = [g["file"] for g in manifest["graphs"].values() if not (folder / g["file"]).is_file()]
    if missing:
        raise ExportFolderError(f"{folder}: the graph files {missing} are missing")
    try:
        return MODELS[manifest["task"]](folder, manifest, threads)
    except (RuntimeError, OSError, ValueError, KeyError) as error:  # onnxruntime's (a corrupt graph), a vocab's
        raise ExportFolderError(f"{folder}: cannot load the exported model: {one_line(error)}") from error
