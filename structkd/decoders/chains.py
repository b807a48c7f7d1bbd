"""Best label sequences: Viterbi over linear-chain pair scores, argmax over per-token scores."""
from __future__ import annotations

import numpy as np


def viterbi(phi: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, N)`` int64 best label sequences of ``(B, N, C, C)`` linear-chain pair scores ``phi[b, i, p, c]``
    (``y_{i-1} = p -> y_i = c``; the first token's scores are ``phi[b, 0, 0, :]``) and ``(B,)`` lengths (>= 1);
    0 past each length.

    Max-product forward pass ``delta_i[c] = max_p (delta_{i-1}[p] + phi[i, p, c])`` with back-pointers
    ``(N-1, B, C)``, each sentence's ``delta`` frozen after its last token; then one back-trace for the whole
    batch, each sentence starting from its own end.  Ties go to the lowest label, as ``torch.max`` breaks them.
    """
    batch, n = phi.shape[:2]
    sizes = np.asarray(lengths, dtype=np.int64)
    rows = np.arange(batch)
    delta = phi[:, 0, 0]
    back = np.zeros((max(n - 1, 0), batch, phi.shape[-1]), dtype=np.int64)
    for i in range(1, n):
        scores = delta[:, :, None] + phi[:, i]  # (B, C_prev, C)
        back[i - 1] = scores.argmax(1)
        delta = np.where((i < sizes)[:, None], scores.max(1), delta)
    labels = np.zeros((batch, n), dtype=np.int64)
    label = delta.argmax(-1)
    labels[rows, sizes - 1] = label
    for i in range(n - 1, 0, -1):  # position i's label gives position i - 1's, inside each sentence
        inside = i < sizes
        label = np.where(inside, back[i - 1, rows, label], label)
        labels[:, i - 1] = np.where(inside, label, labels[:, i - 1])
    return labels


def emission_pair_scores(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
                         lengths: np.ndarray) -> np.ndarray:
    """The ``(B, N, C, C)`` pair scores of an emission CRF, as :meth:`structkd.LinearChainCRF.from_emissions`
    builds them: ``phi[i, p, c] = emissions[i, c] + transitions[p, c]``, ``phi[0, 0, c] = emissions[0, c] +
    start[c]`` and ``end[c]`` added at each sentence's last token."""
    phi = emissions[:, :, None, :] + transitions
    phi[:, 0, 0] = emissions[:, 0] + start
    phi[np.arange(len(lengths)), np.asarray(lengths) - 1] += end
    return phi


def argmax_labels(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, N)`` int64 best label of every token of ``(B, N, C)`` per-token scores (a MaxEnt model); 0 past each
    length."""
    inside = np.arange(scores.shape[1]) < np.asarray(lengths)[:, None]
    return np.where(inside, scores.argmax(-1), 0)
