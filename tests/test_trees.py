"""Dependency tree CRFs (Eisner, matrix-tree) and Chu-Liu-Edmonds against brute-force enumeration.

Float64 throughout; CRFs on n <= 4 words padded to N_PAD, MST on n = 6..7 words.
"""
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
import torch  # noqa: E402
from brute import arc_parts, distribution, trees  # noqa: E402

from structkd.decoders import chu_liu_edmonds  # noqa: E402
from structkd.structs.mst import is_tree, mst  # noqa: E402
from structkd.structs.tree import NonProjectiveDependencyCRF, ProjectiveDependencyCRF  # noqa: E402

N_PAD = 4
ATOL = 1e-5
CLASS = {True: ProjectiveDependencyCRF, False: NonProjectiveDependencyCRF}  # keyed by `projective`
KINDS = [(projective, multiroot) for projective in (True, False) for multiroot in (False, True)]
NEG_INF = float("-inf")


@functools.lru_cache(maxsize=None)
def all_trees(n, projective, multiroot):
    return trees(n, projective, multiroot)


def enumerate_trees(phi, n, projective, multiroot):
    """Head lists of every tree over ``n`` words and ``(log Z, probs, marginals, scores)`` under ``phi [m, h]``."""
    heads = all_trees(n, projective, multiroot)
    return heads, distribution(phi, [arc_parts(h, phi.shape[-1] - 1) for h in heads])


def random_scores(batch, n_pad=N_PAD, scale=1.0):
    return scale * torch.randn(batch, n_pad + 1, n_pad + 1, dtype=torch.float64)


def ignored_cells(lengths, n_pad=N_PAD):
    """``(B, n_pad+1, n_pad+1)`` True on row 0, the diagonal and past each length."""
    idx = torch.arange(n_pad + 1)
    word = (idx > 0) & (idx <= lengths.unsqueeze(-1))
    head = idx <= lengths.unsqueeze(-1)
    return ~(word.unsqueeze(-1) & head.unsqueeze(-2)) | torch.eye(n_pad + 1, dtype=torch.bool)


def tree_scores(phi, heads):
    """``(n+1, n+1)`` scores, ``(T, n)`` head lists -> ``(T,)`` tree scores."""
    n = heads.shape[1]
    return phi[torch.arange(1, n + 1), heads].sum(-1)


# ----------------------------------------------------------------------------- against enumeration
@pytest.mark.parametrize("n", range(1, N_PAD + 1))
@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_log_z_marginals_decode_entropy_max(projective, multiroot, n):
    torch.manual_seed(100 * n + 10 * projective + multiroot)
    phi = random_scores(1)
    dist = CLASS[projective](phi, torch.tensor([n]), multiroot=multiroot)
    heads, (log_z, probs, marginals, scores) = enumerate_trees(phi[0], n, projective, multiroot)
    best = heads[scores.argmax()]
    assert torch.allclose(dist.partition[0], log_z, atol=ATOL)
    assert torch.allclose(dist.marginals[0], marginals, atol=ATOL)
    assert dist.decode()[0].tolist() == [0] + best + [0] * (N_PAD - n)
    assert torch.equal(dist.argmax[0], arc_parts(best, N_PAD))
    assert torch.allclose(dist.max[0], scores.max(), atol=ATOL)
    assert torch.allclose(dist.entropy[0], -(probs * probs.log()).sum(), atol=ATOL)


@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_kl_and_cross_entropy(projective, multiroot):
    torch.manual_seed(7)
    n, lengths = 3, torch.tensor([3])
    phi_p, phi_q = random_scores(1), random_scores(1)
    p = CLASS[projective](phi_p, lengths, multiroot=multiroot)
    q = CLASS[projective](phi_q, lengths, multiroot=multiroot)
    _, (_, probs_p, _, _) = enumerate_trees(phi_p[0], n, projective, multiroot)
    _, (_, probs_q, _, _) = enumerate_trees(phi_q[0], n, projective, multiroot)
    assert torch.allclose(p.cross_entropy(q)[0], -(probs_p * probs_q.log()).sum(), atol=ATOL)
    assert torch.allclose(p.kl(q)[0], (probs_p * (probs_p.log() - probs_q.log())).sum(), atol=ATOL)


@pytest.mark.parametrize("multiroot", [False, True])
def test_projective_semiring_extras(multiroot):
    """count (standard semiring) and the k best (k-max semiring) come from the same Eisner program."""
    torch.manual_seed(3)
    n, phi = 4, random_scores(1)
    dist = ProjectiveDependencyCRF(phi, torch.tensor([n]), multiroot=multiroot)
    heads, (_, _, _, scores) = enumerate_trees(phi[0], n, True, multiroot)
    assert dist.count[0].item() == len(heads)
    assert torch.allclose(dist.kmax(3)[:, 0], scores.sort(descending=True).values[:3], atol=ATOL)


def test_arcs_forbidden_by_minus_inf_match_enumeration():
    torch.manual_seed(4)
    n, phi = 4, random_scores(1)
    phi[0, 2, 1] = phi[0, 3, 0] = phi[0, 1, 4] = NEG_INF
    for projective, multiroot in KINDS:
        dist = CLASS[projective](phi, torch.tensor([n]), multiroot=multiroot)
        _, (log_z, _, marginals, _) = enumerate_trees(phi[0], n, projective, multiroot)
        assert torch.allclose(dist.partition[0], log_z, atol=ATOL)
        assert torch.allclose(dist.marginals[0], marginals, atol=ATOL)
        assert dist.decode()[0, 2] != 1 and dist.decode()[0, 3] != 0 and dist.decode()[0, 1] != 4


@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_peaked_scores_and_root_only_words(projective, multiroot):
    """Scores of randn * 50 (where a determinant by plain LU loses log Z: the heads the words prefer form
    cycles far heavier than any tree) and, every other trial, a word whose only allowed head is the root."""
    torch.manual_seed(5)
    n = 4
    for trial in range(16):
        phi = random_scores(1, scale=50.0)
        if trial % 2:
            phi[0, 1 + trial % n, 1:] = NEG_INF
        dist = CLASS[projective](phi, torch.tensor([n]), multiroot=multiroot)
        _, (log_z, _, marginals, _) = enumerate_trees(phi[0], n, projective, multiroot)
        assert torch.allclose(dist.partition[0], log_z, rtol=1e-12, atol=ATOL)
        assert torch.allclose(dist.marginals[0], marginals, atol=ATOL)


@pytest.mark.parametrize("multiroot", [False, True])
def test_matrix_tree_float32_matches_float64(multiroot):
    torch.manual_seed(13)
    lengths = torch.tensor([30, 12, 25])
    phi = random_scores(3, 30, scale=20.0)
    single, double = (NonProjectiveDependencyCRF(x, lengths, multiroot=multiroot) for x in (phi.float(), phi))
    assert single.partition.dtype == single.marginals.dtype == torch.float32
    assert torch.allclose(single.partition.double(), double.partition, rtol=1e-6)
    assert torch.allclose(single.marginals.double(), double.marginals, atol=1e-5)


# ----------------------------------------------------------------------------- gradients, batching, masking
@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_marginals_are_the_gradient_of_log_z(projective, multiroot):
    torch.manual_seed(6)
    lengths = torch.tensor([4, 2])
    phi = random_scores(2).requires_grad_()
    cls = CLASS[projective]
    dist = cls(phi, lengths, multiroot=multiroot)
    (grad,) = torch.autograd.grad(dist.partition.sum(), phi)
    assert torch.allclose(grad, dist.marginals, atol=1e-10)
    assert torch.autograd.gradcheck(lambda x: cls(x, lengths, multiroot=multiroot).partition, (phi,))
    # the marginals are differentiable too (second derivatives of log Z), as KD losses need
    assert torch.autograd.gradcheck(lambda x: cls(x, lengths, multiroot=multiroot).marginals, (phi,))


@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_padded_batch_equals_each_sentence_alone(projective, multiroot):
    torch.manual_seed(8)
    lengths = torch.tensor([4, 1, 3, 2])
    phi = random_scores(4)
    phi[0, 2, 1:] = phi[2, 3, 1:] = NEG_INF  # words that may only attach to the root
    cls = CLASS[projective]
    batch = cls(phi, lengths, multiroot=multiroot)
    for b, n in enumerate(lengths.tolist()):
        alone = cls(phi[b : b + 1, : n + 1, : n + 1], multiroot=multiroot)
        assert torch.allclose(batch.partition[b], alone.partition[0], atol=1e-10)
        assert torch.allclose(batch.entropy[b], alone.entropy[0], atol=1e-10)
        assert torch.allclose(batch.marginals[b, : n + 1, : n + 1], alone.marginals[0], atol=1e-10)
        assert batch.decode()[b].tolist() == alone.decode()[0].tolist() + [0] * (N_PAD - n)
    assert torch.all(batch.marginals[ignored_cells(lengths)] == 0)


@pytest.mark.parametrize("projective,multiroot", KINDS)
def test_minus_inf_on_ignored_cells_gives_no_nan(projective, multiroot):
    torch.manual_seed(9)
    lengths = torch.tensor([4, 2, 1])
    finite = random_scores(3)
    weights = torch.randn_like(finite)
    phi = finite.masked_fill(ignored_cells(lengths), NEG_INF).requires_grad_()
    cls = CLASS[projective]
    dist, reference = cls(phi, lengths, multiroot=multiroot), cls(finite, lengths, multiroot=multiroot)
    assert torch.allclose(dist.partition, reference.partition, atol=1e-10)
    assert torch.allclose(dist.marginals, reference.marginals, atol=1e-10)
    assert torch.allclose(dist.entropy, reference.entropy, atol=1e-10)
    assert torch.equal(dist.decode(), reference.decode())
    loss = dist.partition.sum() + (dist.marginals * weights).sum() + dist.entropy.sum()
    (grad,) = torch.autograd.grad(loss, phi)
    assert not grad.isnan().any()
    assert torch.all(grad[ignored_cells(lengths)] == 0)


@pytest.mark.parametrize("cls", [ProjectiveDependencyCRF, NonProjectiveDependencyCRF])
def test_multiroot_is_per_instance(cls):
    torch.manual_seed(10)
    phi = random_scores(1)
    multi, single = cls(phi, multiroot=True), cls(phi)
    _, (log_z_multi, *_) = enumerate_trees(phi[0], N_PAD, cls is ProjectiveDependencyCRF, True)
    _, (log_z_single, *_) = enumerate_trees(phi[0], N_PAD, cls is ProjectiveDependencyCRF, False)
    assert torch.allclose(multi.partition[0], log_z_multi, atol=ATOL)
    assert torch.allclose(single.partition[0], log_z_single, atol=ATOL)


def test_matrix_tree_refuses_other_semirings_and_bad_shapes():
    dist = NonProjectiveDependencyCRF(random_scores(1))
    with pytest.raises(NotImplementedError, match="matrix-tree"):
        dist.kmax(2)
    with pytest.raises(ValueError, match="N\\+1, N\\+1"):
        ProjectiveDependencyCRF(torch.randn(2, 4, 5))


# ----------------------------------------------------------------------------- maximum spanning trees
@pytest.mark.parametrize("n", [6, 7])
@pytest.mark.parametrize("multiroot", [False, True])
def test_mst_matches_enumeration(n, multiroot):
    torch.manual_seed(11 + n + multiroot)
    heads = torch.tensor(all_trees(n, False, multiroot))
    phi = torch.cat([random_scores(8, n, scale) for scale in (0.3, 1.0, 5.0)])
    # also padded to n + 2 words: the same trees must come back
    padded = torch.randn(len(phi), n + 3, n + 3, dtype=torch.float64)
    padded[:, : n + 1, : n + 1] = phi
    lengths = torch.full((len(phi),), n)
    best = mst(phi, lengths, multiroot)
    assert torch.equal(mst(padded, lengths, multiroot)[:, : n + 1], best)
    for b in range(len(phi)):
        assert best[b, 1:].tolist() == heads[tree_scores(phi[b], heads).argmax()].tolist()


@pytest.mark.parametrize("multiroot", [False, True])
def test_mst_on_long_sentences(multiroot):
    """Trees of 10..40 words: valid, each alone equals in batch, never worse than the best projective tree."""
    torch.manual_seed(12)
    lengths = torch.tensor([40, 10, 25, 33, 17, 40])
    phi = random_scores(len(lengths), 40)
    heads = NonProjectiveDependencyCRF(phi, lengths, multiroot=multiroot).decode()
    assert is_tree(heads, lengths, multiroot).all()
    projective = ProjectiveDependencyCRF(phi, lengths, multiroot=multiroot)
    nonprojective = NonProjectiveDependencyCRF(phi, lengths, multiroot=multiroot)
    assert torch.all(nonprojective.score(nonprojective.to_parts(heads)) >= projective.max - 1e-9)
    for b, n in enumerate(lengths.tolist()):
        assert heads[b, : n + 1].tolist() == chu_liu_edmonds(phi[b, : n + 1, : n + 1].numpy(), multiroot).tolist()
    if not multiroot:
        unconstrained = NonProjectiveDependencyCRF(phi, lengths, multiroot=True)
        assert torch.all(unconstrained.max >= nonprojective.max - 1e-9)


def test_is_tree():
    lengths = torch.tensor([3, 3, 3, 2])
    heads = torch.tensor([[0, 0, 1, 2], [0, 0, 0, 2], [0, 3, 1, 2], [0, 2, 0, 0]])
    assert is_tree(heads, lengths, multiroot=False).tolist() == [True, False, False, True]
    assert is_tree(heads, lengths, multiroot=True).tolist() == [True, True, False, True]
