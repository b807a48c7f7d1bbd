"""Brute-force enumeration of every output of tiny inputs: the ground truth of the tests.

Each enumerator yields compact outputs; each ``*_parts`` turns one into the 0/1 indicator tensor of a
factorization's substructures, so that ``Score(y) = (parts * potentials).sum()`` and
``log Z = logsumexp_y Score(y)`` can be computed by plain summation.
"""
from __future__ import annotations

import itertools

import torch


# ----------------------------------------------------------------------------- label sequences
def label_sequences(n: int, num_labels: int):
    """Every sequence of ``n`` labels in ``[0, num_labels)``."""
    return [list(y) for y in itertools.product(range(num_labels), repeat=n)]


def chain_parts(labels, n_pad: int, num_labels: int, dtype=torch.float64) -> torch.Tensor:
    """``(n_pad, C, C)`` pair indicators of a label sequence (virtual start label 0)."""
    parts = torch.zeros(n_pad, num_labels, num_labels, dtype=dtype)
    prev = 0
    for i, y in enumerate(labels):
        parts[i, prev, y] = 1
        prev = y
    return parts


def token_parts(labels, n_pad: int, num_labels: int, dtype=torch.float64) -> torch.Tensor:
    """``(n_pad, C)`` per-token label indicators."""
    parts = torch.zeros(n_pad, num_labels, dtype=dtype)
    for i, y in enumerate(labels):
        parts[i, y] = 1
    return parts


# ----------------------------------------------------------------------------- dependency trees
def _is_tree(heads) -> bool:
    """heads[m-1] is the head of word m (0 = root); True if every word reaches the root."""
    n = len(heads)
    for m in range(1, n + 1):
        seen, h = set(), m
        while h != 0:
            if h in seen:
                return False
            seen.add(h)
            h = heads[h - 1]
    return True


def _is_projective(heads) -> bool:
    arcs = [(h, m) for m, h in enumerate(heads, 1)]
    for h1, m1 in arcs:
        lo1, hi1 = sorted((h1, m1))
        for h2, m2 in arcs:
            lo2, hi2 = sorted((h2, m2))
            if lo1 < lo2 < hi1 < hi2:
                return False
    return True


def trees(n: int, projective: bool, multiroot: bool):
    """Every dependency tree over ``n`` words as a head list (heads[m-1] = head of word m)."""
    out = []
    for heads in itertools.product(range(n + 1), repeat=n):
        if any(h == m for m, h in enumerate(heads, 1)):
            continue
        if not multiroot and sum(h == 0 for h in heads) != 1:
            continue
        if not _is_tree(heads):
            continue
        if projective and not _is_projective(heads):
            continue
        out.append(list(heads))
    return out


def arc_parts(heads, n_pad: int, dtype=torch.float64) -> torch.Tensor:
    """``(n_pad + 1, n_pad + 1)`` arc indicators indexed ``[dependent, head]`` (0 = root)."""
    parts = torch.zeros(n_pad + 1, n_pad + 1, dtype=dtype)
    for m, h in enumerate(heads, 1):
        parts[m, h] = 1
    return parts


# ----------------------------------------------------------------------------- span segmentations
def segmentations(n: int, num_types: int):
    """Every set of non-overlapping typed spans over ``n`` tokens, as a list of ``(i, j, r)``
    (inclusive ``j``); tokens outside every span are O."""
    out = []

    def rec(i, acc):
        if i == n:
            out.append(list(acc))
            return
        rec(i + 1, acc)  # token i is O
        for j in range(i, n):
            for r in range(num_types):
                rec(j + 1, acc + [(i, j, r)])

    rec(0, [])
    return out


def span_parts(spans, n_pad: int, num_types: int, dtype=torch.float64) -> torch.Tensor:
    """``(n_pad, n_pad, R)`` span indicators."""
    parts = torch.zeros(n_pad, n_pad, num_types, dtype=dtype)
    for i, j, r in spans:
        parts[i, j, r] = 1
    return parts


# ----------------------------------------------------------------------------- generic
def distribution(potentials: torch.Tensor, all_parts: list[torch.Tensor]):
    """Scores, log Z, probabilities and marginals of the distribution ``p(y) ∝ exp(<parts_y, potentials>)``.

    Returns ``(log_z, probs (Y,), marginals like potentials)``.
    """
    stacked = torch.stack(all_parts)
    scores = torch.where(stacked != 0, stacked * potentials, torch.zeros_like(stacked)).flatten(1).sum(-1)
    log_z = torch.logsumexp(scores, 0)
    probs = (scores - log_z).exp()
    marginals = (probs.view(-1, *[1] * potentials.dim()) * stacked).sum(0)
    return log_z, probs, marginals, scores
