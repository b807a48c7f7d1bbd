"""Decoders on NumPy arrays: the best output of every factorization, without autograd, torch or Python lists in
the hot path.

A torch operation on a small tensor costs a few microseconds of dispatch however little it computes, NumPy's
about one; decoding is a chain of small steps (one per token for Viterbi, one per span width for Eisner), so
at batch 1 that dispatch is most of its time.  Every function takes and returns NumPy arrays, batched over
sentences of different lengths, and loops only over positions or widths, never over sentences or labels
(the back-traces of Eisner and Chu-Liu-Edmonds walk one sentence's ``O(n)`` chart cells).  They decode for
the torch factorizations and for the ONNX predictor (:mod:`structkd.serve`), which runs without torch.

* :mod:`~structkd.decoders.chains`: Viterbi (linear-chain CRF), per-token argmax (MaxEnt);
* :mod:`~structkd.decoders.trees`: per-word head argmax, Eisner (projective), Chu-Liu-Edmonds (non-projective);
* :mod:`~structkd.decoders.spans`: the best set of non-overlapping typed spans (semi-Markov Viterbi).
"""
from .chains import argmax_labels, emission_pair_scores, viterbi
from .spans import best_spans
from .trees import argmax_heads, chu_liu_edmonds, eisner, head_mask, is_tree, mst, tree_lists

__all__ = ["viterbi", "emission_pair_scores", "argmax_labels", "argmax_heads", "eisner", "mst", "chu_liu_edmonds",
           "is_tree", "head_mask", "tree_lists", "best_spans"]
