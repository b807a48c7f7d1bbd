"""LinearChainCRF and MaxEnt against brute-force enumeration (float64, n <= 4, C <= 3)."""
import itertools

import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from torch_struct import LinearChainCRF as TorchStructChain

import brute
from structkd import LinearChainCRF, MaxEnt, allowed_transitions, constraint_scores
from structkd.decoders import viterbi
from structkd.structs.base import Factorization

torch.manual_seed(0)
N_PAD = 4
CASES = [(n, c) for n in range(1, 5) for c in range(1, 4)]


def enumerate_chain(phi, n):
    num_labels = phi.shape[-1]
    seqs = brute.label_sequences(n, num_labels)
    return seqs, brute.distribution(phi, [brute.chain_parts(y, N_PAD, num_labels) for y in seqs])


@pytest.mark.parametrize("n,num_labels", CASES)
def test_chain_log_z_marginals_decode_entropy(n, num_labels):
    phi = torch.randn(1, N_PAD, num_labels, num_labels, dtype=torch.float64)
    dist = LinearChainCRF(phi, torch.tensor([n]))
    seqs, (log_z, probs, marginals, scores) = enumerate_chain(phi[0], n)
    assert torch.allclose(dist.partition[0], log_z, atol=1e-5)
    assert torch.allclose(dist.marginals[0], marginals, atol=1e-5)
    assert dist.decode()[0, :n].tolist() == seqs[scores.argmax()]
    assert torch.allclose(dist.entropy[0], -(probs * probs.log()).sum(), atol=1e-5)
    assert torch.allclose(dist.label_marginals[0], marginals.sum(-2), atol=1e-5)


@pytest.mark.parametrize("n,num_labels", [(3, 2), (4, 3)])
def test_chain_kbest_matches_enumeration(n, num_labels):
    phi = torch.randn(1, N_PAD, num_labels, num_labels, dtype=torch.float64)
    dist = LinearChainCRF(phi, torch.tensor([n]))
    seqs, (_, _, _, scores) = enumerate_chain(phi[0], n)
    best = dist.topk(4)[:, 0]
    expected = [seqs[i] for i in scores.argsort(descending=True)[:4]]
    assert [LinearChainCRF.from_parts(p.unsqueeze(0))[0, :n].tolist() for p in best] == expected


def test_chain_gradient_of_log_z_is_the_marginals_and_passes_gradcheck():
    phi = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])
    (grad,) = torch.autograd.grad(LinearChainCRF(phi, lengths).partition.sum(), phi)
    assert torch.allclose(grad, LinearChainCRF(phi.detach(), lengths).marginals)
    assert torch.autograd.gradcheck(lambda p: LinearChainCRF(p, lengths).partition, (phi,))


def test_chain_marginals_are_differentiable_when_scores_require_grad():
    phi = torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: LinearChainCRF(p).marginals, (phi,))
    with torch.no_grad():  # also works without grad, unlike torch-struct's DependencyCRF
        plain = LinearChainCRF(phi.detach()).marginals
    assert not plain.requires_grad and torch.allclose(plain, LinearChainCRF(phi).marginals)


def test_padded_batch_equals_single_sentences():
    lengths = torch.tensor([4, 1, 3])
    phi = torch.randn(3, 4, 3, 3, dtype=torch.float64)
    phi[1, 1:] = float("-inf")  # -inf on padding must not leak NaN
    batch = LinearChainCRF(phi, lengths)
    for b, n in enumerate(lengths.tolist()):
        single = LinearChainCRF(phi[b : b + 1, :n], torch.tensor([n]))
        assert torch.allclose(batch.partition[b], single.partition[0])
        assert torch.allclose(batch.marginals[b, :n], single.marginals[0])
        assert batch.marginals[b, n:].abs().sum() == 0
        assert batch.decode()[b, :n].tolist() == single.decode()[0].tolist()
    assert (batch.decode() == LinearChainCRF.from_parts(batch.argmax)).all()  # = the max-semiring argmax
    assert batch.decode()[1, 1:].abs().sum() == 0  # padding is label 0


def test_viterbi_backtrace_agrees_with_the_max_semiring_under_constraints():
    """Decoding (a backtrace) against the semiring argmax, with forbidden transitions and long padding."""
    generator = torch.Generator().manual_seed(3)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start, trans, end = constraint_scores(tags)
    lengths = torch.tensor([9, 1, 5, 2, 9, 7])
    emissions = torch.randn(6, 9, 5, generator=generator)
    dist = LinearChainCRF.from_emissions(emissions, torch.randn(5, 5, generator=generator) + trans, lengths,
                                         start, end)
    labels = dist.decode()
    assert (labels == LinearChainCRF.from_parts(dist.argmax)).all()
    allowed_start, allowed, _ = allowed_transitions(tags)
    for row, n in zip(labels.tolist(), lengths.tolist()):
        assert allowed_start[row[0]] and all(allowed[p, c] for p, c in zip(row[: n - 1], row[1:n]))


def test_matches_torch_struct_linear_chain_when_first_position_is_folded():
    """Our layout with no start scores equals torch-struct's (B, N-1, C, C) [z_{n+1}, z_n] layout."""
    emissions, transitions = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    ours = LinearChainCRF.from_emissions(emissions, transitions)
    edges = (emissions[:, 1:, :, None] + transitions.T[None, None]).clone()
    edges[:, 0] += emissions[:, 0, None, :]
    theirs = TorchStructChain(edges)
    assert torch.allclose(ours.partition, theirs.partition)


def test_from_emissions_scores_paths_as_documented():
    emissions = torch.randn(1, 3, 2, dtype=torch.float64)
    transitions, start, end = (torch.randn(2, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64),
                               torch.randn(2, dtype=torch.float64))
    dist = LinearChainCRF.from_emissions(emissions, transitions, torch.tensor([2]), start, end)
    for y in itertools.product(range(2), repeat=2):
        expected = start[y[0]] + emissions[0, 0, y[0]] + transitions[y[0], y[1]] + emissions[0, 1, y[1]] + end[y[1]]
        assert torch.allclose(dist.score(dist.to_parts(torch.tensor([[*y, 0]]))), expected.view(1))


def _valid(tags, seq):
    start, trans, end = allowed_transitions(tags)
    return bool(start[seq[0]] and end[seq[-1]] and all(trans[a, b] for a, b in zip(seq, seq[1:])))


def _reference_valid(tags, seq):
    """Every I-/E- continues an open entity of its type; in BIOES an open entity must end with E-."""
    bioes = any(t.startswith(("E-", "S-")) for t in tags)
    open_type = None
    for t in [tags[i] for i in seq] + ["O"]:
        prefix, _, kind = t.partition("-")
        continues = prefix in ("I", "E")
        if continues and open_type != kind or bioes and open_type is not None and not continues:
            return False
        open_type = kind if prefix in ("B", "I") else None
    return True


@pytest.mark.parametrize("tags", [["O", "B-X", "I-X", "B-Y", "I-Y"], ["O", "B-X", "I-X", "E-X", "S-X"]])
def test_constrained_chain_gives_mass_only_to_valid_sequences(tags):
    num = len(tags)
    start, trans, end = constraint_scores(tags, torch.float64)
    emissions = torch.randn(1, 3, num, dtype=torch.float64)
    dist = LinearChainCRF.from_emissions(emissions, trans, None, start, end)
    seqs = brute.label_sequences(3, num)
    valid = [y for y in seqs if _reference_valid(tags, y)]
    assert valid == [y for y in seqs if _valid(tags, y)]
    log_z, _, marginals, _ = brute.distribution(dist.log_potentials[0], [brute.chain_parts(y, 3, num) for y in valid])
    assert torch.allclose(dist.partition[0], log_z)
    assert torch.allclose(dist.marginals[0], marginals)
    assert _valid(tags, dist.decode()[0].tolist())
    assert not torch.isnan(dist.marginals).any()


@pytest.mark.parametrize("n,num_labels", CASES)
def test_maxent_against_enumeration(n, num_labels):
    phi = torch.randn(1, N_PAD, num_labels, dtype=torch.float64)
    phi[0, n:] = float("-inf")
    dist = MaxEnt(phi, torch.tensor([n]))
    seqs = brute.label_sequences(n, num_labels)
    log_z, probs, marginals, scores = brute.distribution(phi[0], [brute.token_parts(y, N_PAD, num_labels) for y in seqs])
    assert torch.allclose(dist.partition[0], log_z)
    assert torch.allclose(dist.marginals[0], marginals)
    assert torch.allclose(dist.entropy[0], -(probs * probs.log()).sum())
    assert dist.decode()[0, :n].tolist() == seqs[scores.argmax()]


def test_chain_kl_and_cross_entropy_semirings_match_enumeration():
    """torch-struct's KL and cross-entropy semirings run on our sequential scan."""
    p_pot, q_pot = torch.randn(1, 3, 3, 3, dtype=torch.float64), torch.randn(1, 3, 3, 3, dtype=torch.float64)
    parts = [brute.chain_parts(y, 3, 3) for y in brute.label_sequences(3, 3)]
    _, p, _, _ = brute.distribution(p_pot[0], parts)
    _, q, _, _ = brute.distribution(q_pot[0], parts)
    dist_p, dist_q = LinearChainCRF(p_pot), LinearChainCRF(q_pot)
    assert torch.allclose(dist_p.kl(dist_q)[0], (p * (p.log() - q.log())).sum())
    assert torch.allclose(dist_p.cross_entropy(dist_q)[0], -(p * q.log()).sum())


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 4), n=st.integers(1, 5), num_labels=st.integers(1, 4),
       scale=st.sampled_from([0.1, 1.0, 30.0, 1e4]), forbid=st.floats(0.0, 0.5))
def test_numpy_viterbi_finds_the_best_sequence(seed, batch, n, num_labels, scale, forbid):
    """:func:`structkd.decoders.viterbi` (behind ``decode``) against enumeration over random shapes, padded
    lengths, extreme scores and forbidden (-inf) pairs; where several sequences tie, any of them."""
    generator = torch.Generator().manual_seed(seed)
    phi = scale * torch.randn(batch, n, num_labels, num_labels, generator=generator, dtype=torch.float64)
    phi = phi.masked_fill(torch.rand(phi.shape, generator=generator, dtype=torch.float64) < forbid, float("-inf"))
    lengths = torch.randint(1, n + 1, (batch,), generator=generator)
    labels = viterbi(phi.numpy(), lengths.numpy())
    for b, length in enumerate(lengths.tolist()):
        paths = list(itertools.product(range(num_labels), repeat=length))
        scores = torch.stack([sum(phi[b, i, ([0] + list(p))[i], p[i]] for i in range(length)) for p in paths])
        best = scores.max()
        assert labels[b, length:].tolist() == [0] * (n - length)
        chosen = paths.index(tuple(labels[b, :length].tolist()))
        assert scores[chosen] == best  # a best sequence (any of the tied ones when every path is -inf)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), n=st.integers(1, 4), num_labels=st.integers(1, 3),
       scale=st.sampled_from([0.1, 1.0, 30.0]), forbid=st.floats(0.0, 0.4))
def test_chain_hessian_times_a_direction_is_the_score_covariance(seed, batch, n, num_labels, scale, forbid):
    """``LinearChainCRF.derivatives`` (two linear recursions over the pair marginals) against enumeration,
    ``Cov(1[u in y], D(y))``, and against the generic second backward, over random shapes, padded lengths,
    peaked scores and forbidden (-inf) pairs."""
    generator = torch.Generator().manual_seed(seed)
    phi = scale * torch.randn(batch, n, num_labels, num_labels, generator=generator, dtype=torch.float64)
    phi = phi.masked_fill(torch.rand(phi.shape, generator=generator, dtype=torch.float64) < forbid, float("-inf"))
    direction = torch.randn(phi.shape, generator=generator, dtype=torch.float64)
    lengths = torch.randint(1, n + 1, (batch,), generator=generator)
    dist = LinearChainCRF(phi, lengths)
    log_z, mu, cov = dist.derivatives(direction)
    generic = Factorization.derivatives(dist, direction)
    for b, length in enumerate(lengths.tolist()):
        parts = [brute.chain_parts(y, n, num_labels) for y in brute.label_sequences(length, num_labels)]
        true_log_z, probs, marginals, _ = brute.distribution(phi[b], parts)
        assume(torch.isfinite(true_log_z))  # some sequence is allowed
        stacked = torch.stack(parts)
        totals = (stacked * direction[b]).flatten(1).sum(-1)  # D(y)
        weights = (probs * totals).view(-1, 1, 1, 1)
        true_cov = (weights * stacked).sum(0) - marginals * (probs * totals).sum()
        assert log_z[b].item() == pytest.approx(true_log_z.item(), abs=1e-9 * max(1.0, abs(true_log_z.item())))
        assert torch.allclose(mu[b], marginals, atol=1e-9)
        assert torch.allclose(cov[b], true_cov, atol=1e-8 * max(1.0, scale)), (cov[b] - true_cov).abs().max()
        assert torch.allclose(generic[2][b], true_cov, atol=1e-8 * max(1.0, scale))
