"""Running exported models with onnxruntime and NumPy, without importing torch (folders of
:mod:`structkd.export`).

Example::

    >>> from structkd.serve import load_exported
    >>> parser = load_exported("runs/parser/onnx")                      # doctest: +SKIP
    >>> heads, rels = parser.predict([["She", "reads", "."]])           # doctest: +SKIP
"""
from .model import ExportedModel, ExportedParser, ExportedTagger, ExportFolderError, load_exported

__all__ = ["load_exported", "ExportedModel", "ExportedTagger", "ExportedParser", "ExportFolderError"]
