"""Words -> subword windows for a transformer encoder: first-subword positions and sliding windows past the length
limit.  Imports no torch: the transformer encoder and the ONNX predictor (:mod:`structkd.serve`) share it.

A sentence is the concatenation of its words' subwords (a word the tokenizer maps to no subword takes the
unknown subword).  When that is longer than a window (the model's limit less its special tokens), it is cut
into overlapping windows ``stride`` subwords apart, each encoded with the special tokens, and every word takes
its vector from the window in which its first subword is most central.
"""
from __future__ import annotations

from itertools import accumulate
from typing import NamedTuple, Sequence


def plan_windows(num_pieces: int, size: int, stride: int) -> list[tuple[int, int]]:
    """``[start, end)`` windows of at most ``size`` subwords covering ``0..num_pieces``: starts ``stride``
    apart, the last one ending at ``num_pieces``; a single window when everything fits."""
    if num_pieces <= size:
        return [(0, num_pieces)]
    starts = list(range(0, num_pieces - size, stride)) + [num_pieces - size]
    return [(s, s + size) for s in starts]


def most_central(position: int, windows: Sequence[tuple[int, int]]) -> int:
    """The index of the window in which ``position`` is farthest from both edges (the first on ties)."""
    return max(range(len(windows)), key=lambda k: min(position - windows[k][0], windows[k][1] - 1 - position))


def group_pieces(sentence: Sequence[str], piece_ids: Sequence[int], word_ids: Sequence[int | None],
                 unk_id: int | None) -> list[list[int]]:
    """The subword ids of every word of ``sentence``, from a tokenizer's flat ``piece_ids`` and the word each
    belongs to; ``[unk_id]`` for a word that has none (ValueError when there is no unknown subword)."""
    pieces: list[list[int]] = [[] for _ in sentence]
    for piece, word in zip(piece_ids, word_ids):
        pieces[word].append(piece)
    for word, ids in enumerate(pieces):
        if not ids:
            if unk_id is None:
                raise ValueError(f"the tokenizer maps the word {sentence[word]!r} to no subword and has no "
                                 f"unknown token to stand for it")
            ids.append(unk_id)
    return pieces


class Windows(NamedTuple):
    """The model inputs of a batch and where each word's vector is found in them."""
    inputs: list[list[int]]  #: ``W`` subword id lists, special tokens included
    window_of: list[list[int]]  #: per sentence, per word: the index of its window in ``inputs``
    position_of: list[list[int]]  #: per sentence, per word: its first subword's position in that window


def windows(batch: Sequence[Sequence[Sequence[int]]], prefix: Sequence[int], suffix: Sequence[int], window: int,
            stride: int) -> Windows:
    """The :class:`Windows` of ``B`` sentences given as the subword ids of each word (:func:`group_pieces`),
    with windows of ``window`` subwords of words, ``stride`` apart, each wrapped in ``prefix`` and ``suffix``."""
    inputs, window_of, position_of = [], [], []
    for pieces in batch:
        flat = [p for word in pieces for p in word]
        firsts = list(accumulate((len(word) for word in pieces[:-1]), initial=0))  # each word's first subword
        planned = plan_windows(len(flat), window, stride)
        chosen = [most_central(f, planned) for f in firsts]
        window_of.append([len(inputs) + k for k in chosen])
        position_of.append([len(prefix) + f - planned[k][0] for f, k in zip(firsts, chosen)])
        inputs.extend(list(prefix) + flat[start:end] + list(suffix) for start, end in planned)
    return Windows(inputs, window_of, position_of)
