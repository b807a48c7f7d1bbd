"""Gold dependency trees: head vectors as tensors, and the checks that a structure can produce them.

A sentence's tree is given as its words' heads, 1-based (``heads[i]`` is the head of word ``i + 1``,
0 = the root).  As a batch it becomes a ``(B, N+1)`` long tensor ``[b, m]`` (index 0 and padding hold 0),
the layout of :mod:`structkd.structs`.

A structure can only learn the trees it can produce: a projective CRF gives non-projective trees
probability 0 (``-log p`` would be infinite, or, computed as score minus a log Z over projective trees
only, meaningless), and with ``multiroot=False`` every tree has exactly one word attached to the root.
:func:`check_gold` turns such trees into a ValueError naming the sentence.  UD treebanks have
non-projective sentences (2.3% of English-EWT's training sentences): to train a projective parser,
filter them out first (:func:`is_projective`) or pick a non-projective structure.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import torch

from structkd.structs.base import length_mask
from structkd.structs.mst import is_tree


def heads_tensor(heads: Sequence[Sequence[int]], device=None) -> torch.Tensor:
    """``B`` lists of 1-based heads -> ``(B, N+1)`` long ``[b, m]``, 0 at index 0 and on padding."""
    n = max(len(h) for h in heads)
    return torch.tensor([[0, *h] + [0] * (n - len(h)) for h in heads], dtype=torch.long, device=device)


def crossing_arcs(heads: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, N+1, N+1)`` bool ``[b, i, j]``: the arcs of words ``i`` and ``j`` cross (root arcs included).

    With ``l_m = min(m, h_m)`` and ``r_m = max(m, h_m)``: ``cross[i, j] = l_i < l_j < r_i < r_j``.
    A tree is projective iff no pair crosses.
    """
    words = torch.arange(heads.shape[1], device=heads.device)
    left, right = torch.minimum(words, heads), torch.maximum(words, heads)  # (B, N+1)
    cross = ((left.unsqueeze(-1) < left.unsqueeze(-2)) & (left.unsqueeze(-2) < right.unsqueeze(-1))
             & (right.unsqueeze(-1) < right.unsqueeze(-2)))
    is_word = length_mask(lengths + 1, heads.shape[1]) & (words > 0)
    return cross & is_word.unsqueeze(-1) & is_word.unsqueeze(-2)


def is_projective(heads: Sequence[int]) -> bool:
    """Whether the tree of one sentence (1-based heads, 0 = root) has no crossing arcs."""
    return not crossing_arcs(heads_tensor([heads]), torch.tensor([len(heads)])).any().item()


def check_gold(heads: Sequence[Sequence[int]], words: Sequence[Sequence[str]], tree: bool = True,
               multiroot: bool = False, projective: bool = False) -> torch.Tensor:
    """The ``(B, N+1)`` head tensor of gold trees, checked; ValueError naming the first bad sentence.

    Always: one head per word, each in ``0..n`` and not the word itself.  With ``tree``: every word
    reaches the root (no cycle) and, unless ``multiroot``, exactly one word is attached to the root.
    With ``projective``: no two arcs cross.
    """
    if [len(h) for h in heads] != [len(w) for w in words]:
        raise ValueError(f"gold heads of lengths {[len(h) for h in heads]} for sentences of lengths "
                         f"{[len(w) for w in words]}")
    for b, sentence in enumerate(heads):
        for m, h in enumerate(sentence, 1):
            if not isinstance(h, numbers.Integral) or not 0 <= h <= len(sentence) or h == m:
                _reject(b, words, sentence, f"word {m} has head {h!r}; heads must be 0 (the root) or another "
                                            f"word's position 1..{len(sentence)}")
    tensor = heads_tensor(heads)
    if not tree:
        return tensor
    lengths = torch.tensor([len(h) for h in heads])
    for b in (~is_tree(tensor, lengths, multiroot=True)).nonzero().flatten().tolist():
        _reject(b, words, heads[b], f"it is not a tree: words {_cut_off(heads[b])} never reach the root (a cycle)")
    if not multiroot:
        for b, sentence in enumerate(heads):
            roots = [m for m, h in enumerate(sentence, 1) if h == 0]
            if len(roots) != 1:
                _reject(b, words, sentence, f"words {roots} are attached to the root; with multiroot=False a tree "
                                            "has exactly one (use multiroot=True to allow several)")
    if projective:
        cross = crossing_arcs(tensor, lengths)
        for b in cross.flatten(1).any(-1).nonzero().flatten().tolist():
            i, j = cross[b].nonzero()[0].tolist()
            _reject(b, words, heads[b], f"it is not projective: the arcs {heads[b][i - 1]} -> {i} and "
                                        f"{heads[b][j - 1]} -> {j} cross; projective training needs projective "
                                        "trees (filter the others out with parsers.is_projective, or use "
                                        "structure='nonprojective')")
    return tensor


def _cut_off(heads: Sequence[int]) -> list[int]:
    """The words (1-based) that never reach the root by following ``heads``."""
    def reaches_root(m):
        seen = set()
        while m != 0 and m not in seen:
            seen.add(m)
            m = heads[m - 1]
        return m == 0

    return [m for m in range(1, len(heads) + 1) if not reaches_root(m)]


def _reject(b: int, words: Sequence[Sequence[str]], heads: Sequence[int], reason: str):
    raise ValueError(f"gold sentence {b} of the batch ({' '.join(words[b])!r}, heads {list(heads)}): {reason}")
