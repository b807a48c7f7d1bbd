"""Decoders on NumPy arrays: best outputs without autograd and without per-step torch dispatch.

A torch operation on a small tensor costs a few microseconds of dispatch however little it computes; NumPy's
cost about one, and a backtrace over Python lists less.  Decoding is a chain of small steps (one per token
for Viterbi), so at batch 1 that dispatch is most of its time.  These functions take and return NumPy arrays,
so they also serve a predictor that runs without torch.
"""
from __future__ import annotations

import numpy as np


def viterbi(phi: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, N)`` int64 best label sequences of ``(B, N, C, C)`` linear-chain pair scores ``phi[b, i, p, c]``
    (``y_{i-1} = p -> y_i = c``; the first token's scores are ``phi[b, 0, 0, :]``) and ``(B,)`` lengths;
    0 past each length.

    Max-product forward pass ``delta_i[c] = max_p (delta_{i-1}[p] + phi[i, p, c])`` with back-pointers, each
    sentence's ``delta`` frozen at its last token; then a backtrace from each sentence's own end.  Ties go to
    the lowest label, as ``torch.max`` breaks them.
    """
    batch, n = phi.shape[:2]
    sizes = np.asarray(lengths)[:, None]
    delta, back = phi[:, 0, 0], []
    padded = bool((sizes < n).any())
    for i in range(1, n):
        scores = delta[:, :, None] + phi[:, i]  # (B, C_prev, C)
        back.append(scores.argmax(1))
        best = scores.max(1)
        delta = np.where(i < sizes, best, delta) if padded else best
    pointers = np.stack(back, 1).tolist() if back else [[] for _ in range(batch)]  # [b][i-1][c]
    labels = np.zeros((batch, n), dtype=np.int64)
    for b, (label, length) in enumerate(zip(delta.argmax(-1).tolist(), sizes[:, 0].tolist())):
        path = [label]
        for step in reversed(pointers[b][: length - 1]):
            label = step[label]
            path.append(label)
        labels[b, :length] = path[::-1]
    return labels


def emission_pair_scores(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
                         lengths: np.ndarray) -> np.ndarray:
    """The ``(B, N, C, C)`` pair scores of an emission CRF, as :meth:`structkd.LinearChainCRF.from_emissions`
    builds them: ``phi[i, p, c] = emissions[i, c] + transitions[p, c]``, ``phi[0, 0, c] = emissions[0, c] +
    start[c]`` and ``end[c]`` added at each sentence's last token."""
    phi = emissions[:, :, None, :] + transitions
    phi[:, 0, 0] = emissions[:, 0] + start
    phi[np.arange(len(lengths)), lengths - 1] += end
    return phi
