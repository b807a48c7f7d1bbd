"""Best dependency trees: per-word head argmax, Eisner (projective) and Chu-Liu-Edmonds (non-projective).

Scores have shape ``(B, N+1, N+1)`` indexed ``[b, m, h]`` (arc ``h -> m``, 0 = root) and a tree is a head
vector of shape ``(B, N+1)`` (``heads[b, 0] = 0``, 0 on padding) that maximises ``sum_{m=1..n} s[m, heads[m]]``.
Cells outside ``1 <= m <= len, 0 <= h <= len, h != m`` are ignored.

Single root (``multiroot=False``): Eisner picks the root's one child last, over complete spans that do not
contain the root; Chu-Liu-Edmonds lowers every root arc by a constant ``M`` larger than the score range of all
trees, ``M = 1 + n (max s - min s)`` over the finite scores, so that the best tree under the lowered scores
has exactly one root child and is the best such tree (one exact run instead of one per candidate root child).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def head_mask(lengths: np.ndarray, n: int) -> np.ndarray:
    """``(B, n+1, n+1)`` bool: True where ``[m, h]`` is a possible arc (1 <= m <= len, 0 <= h <= len, h != m)."""
    words = np.arange(n + 1)
    in_sentence = words[None, :] <= np.asarray(lengths)[:, None]  # (B, n+1), the root included
    dependent = in_sentence & (words[None, :] > 0)
    return dependent[:, :, None] & in_sentence[:, None, :] & (words[:, None] != words[None, :])


def tree_lists(heads: np.ndarray, rels: np.ndarray, lengths: np.ndarray, names: Sequence[str]
               ) -> tuple[list[list[int]], list[list[str]]]:
    """``(B, N+1)`` heads and relation ids (index 0: the root) -> per sentence, the heads of words ``1..len``
    and their relation names (``names[id]``), as lists."""
    sizes = np.asarray(lengths).tolist()
    return ([row[1:n + 1] for row, n in zip(np.asarray(heads).tolist(), sizes)],
            [[names[r] for r in row[1:n + 1]] for row, n in zip(np.asarray(rels).tolist(), sizes)])


def argmax_heads(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, N+1)`` the best head of every word on its own (head selection: the output need not be a tree)."""
    allowed = head_mask(lengths, scores.shape[1] - 1)
    return np.where(allowed.any(-1), np.where(allowed, scores, -np.inf).argmax(-1), 0)


def is_tree(heads: np.ndarray, lengths: np.ndarray, multiroot: bool = False) -> np.ndarray:
    """``(B,)`` bool: whether each ``(B, N+1)`` head vector is a tree (every word reaches the root; with
    ``multiroot=False`` also exactly one root child).  Padding must hold head 0.

    Pointer jumping: after ``k`` squarings ``reach[m]`` is the ancestor ``2^k`` steps above ``m`` (the root is
    its own head), so with ``2^k >= N+1`` every word of a tree reaches 0.
    """
    reach = heads
    for _ in range(math.ceil(math.log2(heads.shape[1]))):
        reach = np.take_along_axis(reach, reach, 1)
    ok = (reach == 0).all(-1)
    if multiroot:
        return ok
    words = np.arange(heads.shape[1])
    is_word = (words[None, :] > 0) & (words[None, :] <= np.asarray(lengths)[:, None])
    return ok & (((heads == 0) & is_word).sum(-1) == 1)


def mst(scores: np.ndarray, lengths: np.ndarray, multiroot: bool = False) -> np.ndarray:
    """``(B, N+1, N+1)`` scores, ``(B,)`` lengths -> ``(B, N+1)`` heads of the maximum spanning trees.

    Greedy heads (every word its best head) for the whole batch at once; a sentence whose greedy graph is a
    tree (with one root child if ``multiroot=False``) is done, the others run :func:`chu_liu_edmonds`."""
    sizes = np.asarray(lengths)
    allowed = head_mask(sizes, scores.shape[1] - 1)
    masked = np.where(allowed, scores, -np.inf)
    heads = np.where(allowed.any(-1), masked.argmax(-1), 0)
    for b in np.flatnonzero(~is_tree(heads, sizes, multiroot)):
        size = int(sizes[b]) + 1
        heads[b, :size] = chu_liu_edmonds(masked[b, :size, :size], multiroot)
    return heads


def chu_liu_edmonds(scores: np.ndarray, multiroot: bool = False) -> np.ndarray:
    """Best arborescence of one sentence: ``(n+1, n+1)`` scores ``[m, h]`` -> ``(n+1,)`` heads
    (``heads[0] = 0``).  Row 0 and the diagonal are ignored; ``-inf`` forbids an arc.  Computed in float64."""
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


def eisner(scores: np.ndarray, lengths: np.ndarray, multiroot: bool = False) -> np.ndarray:
    """``(B, N+1, N+1)`` scores, ``(B,)`` lengths -> ``(B, N+1)`` heads of the best projective trees (Eisner 1996).

    Charts over spans ``[i, j]`` of positions ``0..N`` (0 the root), ``(B, N+1, N+1)`` each, for span widths
    ``w = 1..N`` (all ``i`` of a width at once, splits ``k`` as an array axis)::

        I_r[i, j] = max_{i <= k < j} C_r[i, k] + C_l[k+1, j] + s[j, i]      (arc i -> j)
        I_l[i, j] = max_{i <= k < j} C_r[i, k] + C_l[k+1, j] + s[i, j]      (arc j -> i)
        C_r[i, j] = max_{i < k <= j} I_r[i, k] + C_r[k, j]
        C_l[i, j] = max_{i <= k < j} C_l[i, k] + I_l[k, j]

    A span ``[i, j]`` reads scores inside it only, so each sentence's tree is read at its own length ``n``:
    ``C_r[0, n]`` (``multiroot``), or with one root child ``max_k C_l[1, k] + s[k, 0] + C_r[k, n]`` over charts
    built without root arcs.  The back-trace walks the ``O(n)`` chosen cells of one sentence at a time.
    """
    batch, size = scores.shape[:2]
    sizes = np.asarray(lengths)
    s = np.where(head_mask(sizes, size - 1), scores.astype(np.float64), -np.inf)
    if not multiroot:
        s[:, :, 0] = -np.inf  # the root's one child is chosen at the end
    charts = {name: np.full((batch, size, size), -np.inf) for name in ("Ir", "Il", "Cr", "Cl")}
    splits = {name: np.zeros((batch, size, size), dtype=np.int64) for name in charts}
    diagonal = np.arange(size)
    charts["Cr"][:, diagonal, diagonal] = charts["Cl"][:, diagonal, diagonal] = 0.0
    for w in range(1, size):
        i = np.arange(size - w)
        j = i + w
        k = i[:, None] + np.arange(w)  # (size - w, w): i <= k < j
        inner = charts["Cr"][:, i[:, None], k] + charts["Cl"][:, k + 1, j[:, None]]  # (B, size - w, w)
        for name, arcs in (("Ir", s[:, j, i]), ("Il", s[:, i, j])):
            _keep(charts, splits, name, i, j, inner, k, arcs)
        _keep(charts, splits, "Cr", i, j, charts["Ir"][:, i[:, None], k + 1] + charts["Cr"][:, k + 1, j[:, None]], k + 1)
        _keep(charts, splits, "Cl", i, j, charts["Cl"][:, i[:, None], k] + charts["Il"][:, k, j[:, None]], k)
    heads = np.zeros((batch, size), dtype=np.int64)
    for b in range(batch):
        n = int(sizes[b])
        if multiroot:
            stack = [("Cr", 0, n)]
        else:
            root = 1 + int(np.argmax(charts["Cl"][b, 1, 1:n + 1] + scores[b, 1:n + 1, 0] + charts["Cr"][b, 1:n + 1, n]))
            heads[b, root] = 0
            stack = [("Cl", 1, root), ("Cr", root, n)]
        _back_trace(stack, {name: splits[name][b] for name in splits}, heads[b])
    return heads


def _keep(charts, splits, name, i, j, candidates, k, arcs=None) -> None:
    """``charts[name][:, i, j]`` = the best of ``(B, len(i), w)`` ``candidates`` (plus ``arcs``), and its split."""
    best = candidates.argmax(-1)  # (B, len(i))
    charts[name][:, i, j] = np.take_along_axis(candidates, best[..., None], -1)[..., 0] + (0 if arcs is None else arcs)
    splits[name][:, i, j] = k[np.arange(len(i)), best]


def _back_trace(stack: list, splits: dict, heads: np.ndarray) -> None:
    """Fill ``heads`` from one sentence's chart ``splits``, starting from the cells on ``stack``."""
    while stack:
        name, i, j = stack.pop()
        if i == j:
            continue
        k = int(splits[name][i, j])
        if name == "Cr":
            stack += [("Ir", i, k), ("Cr", k, j)]
        elif name == "Cl":
            stack += [("Cl", i, k), ("Il", k, j)]
        else:
            if name == "Ir":
                heads[j] = i
            else:
                heads[i] = j
            stack += [("Cr", i, k), ("Cl", k + 1, j)]
