"""Maximum spanning arborescences: Chu-Liu-Edmonds decoding of non-projective dependency trees.

Scores have shape ``(B, N+1, N+1)`` indexed ``[b, m, h]`` (arc ``h -> m``, 0 = root) and a tree is a head
vector ``heads`` of shape ``(B, N+1)`` (``heads[b, 0] = 0``, 0 on padding).  The best tree maximises
``sum_{m=1..n} s[m, heads[m]]``.

* Greedy heads (every word takes its best head) are computed for the whole batch at once; a sentence
  whose greedy graph already is a tree (with one root child if ``multiroot=False``) is done.
* The others run Chu-Liu-Edmonds (Chu & Liu 1965, Edmonds 1967) on numpy arrays: contract a cycle of the
  greedy graph into one node, solve the smaller graph, expand.
* Single root (``multiroot=False``): every root arc is lowered by a constant ``M`` larger than the
  score range of all trees, ``M = 1 + n (max s - min s)`` over the finite scores.  A tree with ``k``
  root children loses ``k M``, so the best tree under the lowered scores has exactly one root child
  (one exists whenever any single-root tree has a finite score) and is the best such tree: one exact
  Chu-Liu-Edmonds run instead of one per candidate root child (and, unlike retrying only the root
  children of the unconstrained tree, never misses the optimum).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .local import head_mask


def mst(scores: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B, N+1, N+1)`` arc scores ``[b, m, h]``, ``(B,)`` lengths -> ``(B, N+1)`` best heads.

    Cells outside ``1 <= m <= len, 0 <= h <= len, h != m`` are ignored.  ``multiroot=False`` returns the
    best tree with exactly one root child.  Not differentiable (the scores are detached).
    """
    allowed = head_mask(lengths, scores.shape[1] - 1)
    masked = scores.detach().masked_fill(~allowed, float("-inf"))
    heads = masked.argmax(-1).masked_fill(~allowed.any(-1), 0)
    solved = is_tree(heads, lengths, multiroot)
    for b in (~solved).nonzero().flatten().tolist():
        size = int(lengths[b]) + 1
        best = chu_liu_edmonds(masked[b, :size, :size].cpu().double().numpy(), multiroot)
        heads[b, :size] = torch.from_numpy(best).to(heads.device)
    return heads


def is_tree(heads: torch.Tensor, lengths: torch.Tensor, multiroot: bool = False) -> torch.Tensor:
    """``(B,)`` bool: whether each ``(B, N+1)`` head vector is a tree (every word reaches the root;
    with ``multiroot=False`` also exactly one root child).  Padding must hold head 0.

    Pointer jumping: after ``k`` squarings ``reach[m]`` is the ancestor ``2^k`` steps above ``m``
    (the root is its own head), so with ``2^k >= N+1`` every word of a tree reaches 0.
    """
    reach = heads
    for _ in range(math.ceil(math.log2(heads.shape[1]))):
        reach = reach.gather(1, reach)
    ok = (reach == 0).all(-1)
    if multiroot:
        return ok
    words = torch.arange(heads.shape[1], device=heads.device)
    is_word = (words > 0) & (words <= lengths.unsqueeze(-1))
    return ok & ((heads == 0) & is_word).sum(-1).eq(1)


def chu_liu_edmonds(scores: np.ndarray, multiroot: bool = False) -> np.ndarray:
    """Best arborescence of one sentence: ``(n+1, n+1)`` scores ``[m, h]`` -> ``(n+1,)`` heads
    (``heads[0] = 0``).  Row 0 and the diagonal are ignored; ``-inf`` forbids an arc."""
    s = np.array(scores, dtype=np.float64)
    s[0] = -np.inf
    np.fill_diagonal(s, -np.inf)
    finite = s[np.isfinite(s)]
    if not multiroot and finite.size:
        s[:, 0] -= 1.0 + (len(s) - 1) * (finite.max() - finite.min())
    return _solve(s)


def _solve(s: np.ndarray) -> np.ndarray:
    """Chu-Liu-Edmonds on a graph whose row 0 and diagonal are already ``-inf``: contract greedy cycles
    until the greedy graph is a tree, then expand the contractions in reverse order."""
    contractions = []
    while True:
        heads = s.argmax(1)
        heads[0] = 0
        cycle = _find_cycle(heads)
        if cycle is None:
            break
        s, contraction = _contract(s, heads, cycle)
        contractions.append(contraction)
    for contraction in reversed(contractions):
        heads = _expand(heads, *contraction)
    return heads


def _contract(s: np.ndarray, heads: np.ndarray, cycle: np.ndarray):
    """Contract ``cycle`` into a new last node ``c``: the smaller scores ``t`` and what expanding needs.

    Contracted scores (``x``, ``y`` outside the cycle, ``v`` in it):
        t[x, y] = s[x, y]
        t[x, c] = max_v s[x, v]                        (x takes its best head in the cycle)
        t[c, y] = max_v s[v, y] - s[v, heads[v]]       (y heads the cycle, entering at its best word v)
    """
    outside = np.ones(len(s), dtype=bool)
    outside[cycle] = False
    rest = np.flatnonzero(outside)  # the root first
    from_rest = s[rest]
    enter = s[cycle][:, rest] - s[cycle, heads[cycle]][:, None]  # (|C|, |rest|)
    leave = from_rest[:, cycle]  # (|rest|, |C|)
    c = len(rest)
    t = np.full((c + 1, c + 1), -np.inf)
    t[:c, :c] = from_rest[:, rest]
    t[:c, c] = leave.max(1)
    t[c, :c] = enter.max(0)
    return t, (heads, cycle, rest, enter.argmax(0), leave.argmax(1))


def _expand(sub, heads, cycle, rest, entry, exit_):
    """Heads of the contracted graph (``sub``, the cycle last) -> heads of the graph before contraction:
    outside words keep their heads (a cycle head becomes their best cycle word ``exit_``), cycle words
    keep their cycle heads except the ``entry`` word of the cycle's head, which takes it."""
    c = len(rest)
    out = heads.copy()
    node = np.append(rest, -1)  # contracted index -> original node
    out[rest] = np.where(sub[:c] == c, cycle[exit_], node[sub[:c]])
    out[cycle[entry[sub[c]]]] = rest[sub[c]]
    out[0] = 0
    return out


def _find_cycle(heads: np.ndarray) -> np.ndarray | None:
    """The nodes of one cycle of the head function (node 0, the root, is excluded), or None."""
    head = heads.tolist()
    walk = [0] * len(head)  # the start of the walk that first visited a node (0: unvisited)
    walk[0] = -1
    for start in range(1, len(head)):
        v = start
        while walk[v] == 0:
            walk[v] = start
            v = head[v]
        if walk[v] == start:  # the walk met itself: v lies on a cycle
            cycle, u = [v], head[v]
            while u != v:
                cycle.append(u)
                u = head[u]
            return np.array(cycle)
    return None
