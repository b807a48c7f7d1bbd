"""The best set of non-overlapping typed spans ("NER as parsing"): semi-Markov Viterbi."""
from __future__ import annotations

import numpy as np


def best_spans(scores: np.ndarray, lengths: np.ndarray, max_width: int | None = None) -> list[list[tuple[int, int, int]]]:
    """The best output of every sentence of ``(B, N, N, R)`` span scores ``s[b, i, j, r]`` (tokens ``i..j``
    inclusive, type ``r``; a token outside every span scores 0), as a sorted list of ``(i, j, r)`` spans.

    Max-product form of :class:`structkd.SpanSegmentation`'s forward recursion, for all sentences at once::

        alpha[0] = 0,   alpha[j + 1] = max(alpha[j],  max_{j - K < i <= j, r} alpha[i] + s[i, j, r])

    with back-pointers ``(i, r)`` (``i = -1``: token ``j`` is outside), and a back-trace from each sentence's
    own length ``n``, whose ``alpha[n]`` reads only tokens ``< n``.
    """
    batch, n, _, types = scores.shape
    alpha = np.zeros((batch, n + 1))
    start = np.full((batch, n), -1, dtype=np.int64)  # the chosen span's first token, -1 for outside
    kind = np.zeros((batch, n), dtype=np.int64)
    for j in range(n):
        lo = 0 if max_width is None else max(0, j + 1 - max_width)
        spans = (alpha[:, lo:j + 1, None] + scores[:, lo:j + 1, j]).reshape(batch, -1)  # (B, (j + 1 - lo) R)
        best = spans.argmax(-1)
        value = spans[np.arange(batch), best]
        better = value > alpha[:, j]  # ties leave the token outside
        alpha[:, j + 1] = np.where(better, value, alpha[:, j])
        start[:, j] = np.where(better, lo + best // types, -1)
        kind[:, j] = best % types
    outputs = []
    for b, size in enumerate(np.asarray(lengths).tolist()):
        spans, j = [], size - 1
        while j >= 0:
            i = int(start[b, j])
            if i < 0:
                j -= 1
            else:
                spans.append((i, j, int(kind[b, j])))
                j = i - 1
        outputs.append(spans[::-1])
    return outputs
