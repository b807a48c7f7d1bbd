"""The NumPy decoders (structkd.decoders) against brute-force enumeration and against the torch factorizations,
on random shapes, padded batches, length 1 and extreme scores."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structkd import LinearChainCRF, MaxEnt, NonProjectiveDependencyCRF, ProjectiveDependencyCRF, SpanSegmentation
from structkd.decoders import argmax_heads, argmax_labels, best_spans, eisner, mst, tree_lists, viterbi

from brute import label_sequences, segmentations, trees

SCALES = st.sampled_from([1.0, 20.0, 50.0])


def padded_batch(rng, lengths, *inner, scale=1.0):
    """Scores of shape ``(B, max(lengths), *inner)`` and the ``(B,)`` lengths; padding holds junk (+-1e4)."""
    scores = rng.normal(scale=scale, size=(len(lengths), max(lengths), *inner))
    return scores, np.array(lengths)


def junk_past(scores, lengths, offset=0, position_dims=1):
    """Large values in the padding cells (past each length along the first ``position_dims`` axes after the
    batch), which a decoder must never read."""
    for b, n in enumerate(lengths):
        scores[b, n + offset:] = 1e4
        if position_dims == 2:
            scores[b, :, n + offset:] = -1e4
    return scores


def chain_score(phi, labels):
    return phi[0, 0, labels[0]] + sum(phi[i, labels[i - 1], labels[i]] for i in range(1, len(labels)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 3), SCALES, st.integers(0, 2 ** 31))
def test_viterbi_is_the_best_sequence(lengths, labels, scale, seed):
    rng = np.random.default_rng(seed)
    phi, sizes = padded_batch(rng, lengths, labels, labels, scale=scale)
    best = viterbi(junk_past(phi.copy(), lengths), sizes)
    for b, n in enumerate(lengths):
        brute = max(label_sequences(n, labels), key=lambda y: chain_score(phi[b], y))
        assert best[b, :n].tolist() == brute and not best[b, n:].any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.booleans(), st.booleans(), SCALES,
       st.integers(0, 2 ** 31))
def test_tree_decoders_are_the_best_trees(lengths, projective, multiroot, scale, seed):
    rng = np.random.default_rng(seed)
    sizes = np.array(lengths)
    scores = rng.normal(scale=scale, size=(len(lengths), max(lengths) + 1, max(lengths) + 1))
    decode = eisner if projective else mst
    heads = decode(junk_past(scores.copy(), lengths, offset=1, position_dims=2), sizes, multiroot)
    for b, n in enumerate(lengths):
        brute = max(trees(n, projective, multiroot), key=lambda h: sum(scores[b, m, x] for m, x in enumerate(h, 1)))
        assert heads[b, 1:n + 1].tolist() == brute and heads[b, 0] == 0 and not heads[b, n + 1:].any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 2), st.sampled_from([None, 1, 2]),
       SCALES, st.integers(0, 2 ** 31))
def test_best_spans_is_the_best_segmentation(lengths, types, max_width, scale, seed):
    rng = np.random.default_rng(seed)
    scores, sizes = padded_batch(rng, lengths, max(lengths), types, scale=scale)
    found = best_spans(junk_past(scores.copy(), lengths, position_dims=2), sizes, max_width)
    for b, n in enumerate(lengths):
        allowed = [y for y in segmentations(n, types) if max_width is None or all(j - i < max_width for i, j, _ in y)]
        assert found[b] == max(allowed, key=lambda y: sum(scores[b, i, j, r] for i, j, r in y))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=5), st.integers(0, 2 ** 31))
def test_decoders_equal_the_max_semiring(lengths, seed):
    """At sizes too large to enumerate: the outputs of torch-struct's max-semiring argmax (the autograd pass over
    the dynamic program), which the factorizations' ``decode`` replaced by these decoders; and no projective
    tree beats the maximum spanning tree."""
    rng = np.random.default_rng(seed)
    n = max(lengths)
    sizes = torch.tensor(lengths)
    arcs = rng.normal(size=(len(lengths), n + 1, n + 1))
    for multiroot in (False, True):
        semiring_heads = ProjectiveDependencyCRF(torch.tensor(arcs), sizes, multiroot).argmax.argmax(-1)
        projective = eisner(arcs, sizes.numpy(), multiroot)
        assert (projective == semiring_heads.numpy()).all()
        spanning = NonProjectiveDependencyCRF(torch.tensor(arcs), sizes, multiroot)
        assert (spanning.score(spanning.to_parts(torch.from_numpy(projective))) <= spanning.max + 1e-9).all()
    spans = rng.normal(size=(len(lengths), n, n, 3))
    semiring_spans = SpanSegmentation(torch.tensor(spans), sizes, max_width=4).argmax
    assert best_spans(spans, sizes.numpy(), 4) == [sorted(map(tuple, y.nonzero().tolist())) for y in semiring_spans]
    emissions = rng.normal(size=(len(lengths), n, 5))
    assert (argmax_labels(emissions, sizes.numpy()) == MaxEnt(torch.tensor(emissions), sizes).decode().numpy()).all()
    chain = rng.normal(size=(len(lengths), n, 5, 5))
    crf = LinearChainCRF(torch.tensor(chain), sizes)
    assert (viterbi(chain, sizes.numpy()) == crf.from_parts(crf.argmax).masked_fill(
        torch.arange(n) >= sizes[:, None], 0).numpy()).all()


def test_argmax_heads_masks_what_lies_outside_the_sentence():
    scores = np.zeros((2, 4, 4))
    scores[:, :, 3] = 5.0  # the best head of every word, but past sentence 1's length
    np.fill_diagonal(scores[0], 9.0)  # self-loops are never chosen
    heads = argmax_heads(scores, np.array([3, 2]))
    assert heads[0].tolist() == [0, 3, 3, 0] and heads[1].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_length_one_and_dtypes(dtype):
    one = np.array([1])
    assert viterbi(np.array([[[[0.0, 2.0], [9.0, 9.0]]]], dtype=dtype), one).tolist() == [[1]]
    assert eisner(np.zeros((1, 2, 2), dtype=dtype), one).tolist() == [[0, 0]]
    assert mst(np.zeros((1, 2, 2), dtype=dtype), one).tolist() == [[0, 0]]
    assert best_spans(np.full((1, 1, 1, 1), 0.5, dtype=dtype), one) == [[(0, 0, 0)]]


def test_tree_lists_drop_the_root_and_the_padding_and_name_the_relations():
    heads = np.array([[0, 2, 0, 2], [0, 0, 0, 0]])
    rels = np.array([[5, 1, 0, 2], [5, 2, 3, 3]])
    assert tree_lists(heads, rels, np.array([3, 1]), ["a", "b", "c"]) == ([[2, 0, 2], [0]], [["b", "a", "c"], ["c"]])
