"""SpanSegmentation and its BIO / BIOES projection against brute-force enumeration (float64, n <= 4, R <= 2)."""
import pytest
import torch

import brute
from structkd.structs.spans import SpanSegmentation, tag_marginals, tag_pair_marginals

torch.manual_seed(0)
N_PAD = 4
TYPES = ["PER", "LOC"]
# (sentence length, number of types, max span width)
CASES = [(n, r, None) for n in range(1, 5) for r in (1, 2)] + [(4, 2, 2), (3, 1, 1), (4, 1, 3)]


def enumerate_spans(potentials, n, max_width=None):
    """Every allowed segmentation of ``n`` tokens and the brute-force distribution over them."""
    num_types = potentials.shape[-1]
    segs = [s for s in brute.segmentations(n, num_types)
            if max_width is None or all(j - i < max_width for i, j, _ in s)]
    return segs, brute.distribution(potentials, [brute.span_parts(s, N_PAD, num_types) for s in segs])


def tag_sequence(spans, n, bioes):
    """The BIO / BIOES tag strings of a segmentation."""
    tags = ["O"] * n
    for i, j, r in spans:
        name = TYPES[r]
        tags[i:j + 1] = [f"I-{name}"] * (j - i + 1)
        tags[i] = f"B-{name}" if i < j or not bioes else f"S-{name}"
        if bioes and i < j:
            tags[j] = f"E-{name}"
    return tags


def tag_set(num_types, bioes):
    """A tag list with "O" last, so that the chain's virtual start index 0 is not the O tag."""
    prefixes = "BIES" if bioes else "BI"
    return [f"{p}-{name}" for name in TYPES[:num_types] for p in prefixes] + ["O"]


@pytest.mark.parametrize("n,num_types,max_width", CASES)
def test_log_z_marginals_decode_entropy(n, num_types, max_width):
    pot = torch.randn(1, N_PAD, N_PAD, num_types, dtype=torch.float64)
    dist = SpanSegmentation(pot, torch.tensor([n]), max_width=max_width)
    segs, (log_z, probs, marginals, scores) = enumerate_spans(pot[0], n, max_width)
    assert torch.allclose(dist.partition[0], log_z, atol=1e-5)
    assert torch.allclose(dist.marginals[0], marginals, atol=1e-5)
    assert torch.allclose(dist.entropy[0], -(probs * probs.log()).sum(), atol=1e-5)
    best = dist.decode()
    assert best == [sorted(segs[scores.argmax()])]
    assert torch.equal(dist.to_parts(best), dist.argmax)
    assert torch.allclose(dist.log_prob_of(best)[0], scores.max() - log_z, atol=1e-5)


def test_kl_matches_enumeration():
    p, q = torch.randn(2, 1, N_PAD, N_PAD, 2, dtype=torch.float64)
    dist_p, dist_q = SpanSegmentation(p, max_width=3), SpanSegmentation(q, max_width=3)
    _, (_, probs_p, _, _) = enumerate_spans(p[0], N_PAD, 3)
    _, (_, probs_q, _, _) = enumerate_spans(q[0], N_PAD, 3)
    assert torch.allclose(dist_p.kl(dist_q)[0], (probs_p * (probs_p / probs_q).log()).sum(), atol=1e-5)


def test_log_z_gradcheck_and_gradient_is_the_marginals():
    pot = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])
    (grad,) = torch.autograd.grad(SpanSegmentation(pot, lengths).partition.sum(), pot)
    assert torch.allclose(grad, SpanSegmentation(pot.detach(), lengths).marginals)
    assert torch.autograd.gradcheck(lambda x: SpanSegmentation(x, lengths, max_width=2).partition, (pot,))


def test_padded_batch_equals_single_sentences():
    lengths = torch.tensor([4, 1, 3])
    tags = tag_set(2, bioes=True)
    pot = torch.randn(3, 6, 6, 2, dtype=torch.float64)
    batch = SpanSegmentation(pot, lengths, labels=TYPES, max_width=3)
    token, pair = tag_marginals(batch, tags), tag_pair_marginals(batch, tags)
    for b, n in enumerate(lengths.tolist()):
        single = SpanSegmentation(pot[b:b + 1, :n, :n], labels=TYPES, max_width=3)
        assert torch.allclose(batch.partition[b], single.partition[0])
        assert torch.allclose(batch.entropy[b], single.entropy[0])
        assert batch.decode()[b] == single.decode()[0]
        spans = batch.marginals[b].clone()
        assert torch.allclose(spans[:n, :n], single.marginals[0])
        spans[:n, :n] = 0
        assert spans.abs().sum() == 0
        for full, part in [(token, tag_marginals(single, tags)), (pair, tag_pair_marginals(single, tags))]:
            assert torch.allclose(full[b, :n], part[0])
            assert full[b, n:].abs().sum() == 0


def test_minus_inf_on_ignored_cells_gives_no_nan():
    lengths = torch.tensor([5, 3])
    pot = torch.randn(2, 5, 5, 2, dtype=torch.float64)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    ignored = (j < i) | (j - i >= 3) | (j.unsqueeze(0) >= lengths.view(-1, 1, 1))  # (B, N, N)
    pot_inf = pot.masked_fill(ignored.unsqueeze(-1), float("-inf")).requires_grad_(True)
    dist = SpanSegmentation(pot_inf, lengths, labels=TYPES, max_width=3)
    clean = SpanSegmentation(pot.masked_fill(ignored.unsqueeze(-1), 0.0), lengths, labels=TYPES, max_width=3)
    (grad,) = torch.autograd.grad(dist.partition.sum(), pot_inf)
    assert torch.allclose(dist.partition, clean.partition)
    assert torch.allclose(dist.entropy, clean.entropy)
    assert torch.isfinite(grad).all() and grad[ignored].abs().sum() == 0
    assert dist.marginals[ignored].abs().sum() == 0
    for tags in (tag_set(2, bioes=False), tag_set(2, bioes=True)):
        assert torch.allclose(tag_pair_marginals(dist, tags), tag_pair_marginals(clean, tags))


@pytest.mark.parametrize("bioes", [False, True])
@pytest.mark.parametrize("n,num_types,max_width", CASES)
def test_tag_marginals_match_enumeration(n, num_types, max_width, bioes):
    pot = torch.randn(1, N_PAD, N_PAD, num_types, dtype=torch.float64)
    dist = SpanSegmentation(pot, torch.tensor([n]), max_width=max_width)
    tags = tag_set(num_types, bioes)
    segs, (_, probs, _, _) = enumerate_spans(pot[0], n, max_width)
    ids = [[tags.index(t) for t in tag_sequence(s, n, bioes)] for s in segs]
    token = sum(p * brute.token_parts(y, N_PAD, len(tags)) for p, y in zip(probs, ids))
    pair = sum(p * brute.chain_parts(y, N_PAD, len(tags)) for p, y in zip(probs, ids))
    assert torch.allclose(tag_marginals(dist, tags, TYPES[:num_types])[0], token, atol=1e-5)
    assert torch.allclose(tag_pair_marginals(dist, tags, TYPES[:num_types])[0], pair, atol=1e-5)


def test_pair_marginals_sum_to_token_marginals():
    lengths = torch.tensor([9, 4, 7])
    dist = SpanSegmentation(3 * torch.randn(3, 9, 9, 2, dtype=torch.float64), lengths, labels=TYPES, max_width=4)
    for bioes in (False, True):
        tags = tag_set(2, bioes)
        token, pair = tag_marginals(dist, tags), tag_pair_marginals(dist, tags)
        assert torch.allclose(pair.sum(-2), token)
        for b, n in enumerate(lengths.tolist()):
            assert torch.allclose(pair[b, 1:n].sum(-1), token[b, :n - 1])
            assert torch.allclose(token[b, :n].sum(-1), torch.ones(n, dtype=torch.float64))


@pytest.mark.parametrize("tags,offending", [
    (["O", "B-PER", "I-PER", "B-LOC"], "I-LOC"),  # missing
    (["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"], "B-ORG"),  # unknown type
    (["O", "B-PER", "X-PER", "B-LOC", "I-LOC"], "X-PER"),  # unknown prefix
    (["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-LOC"], "I-LOC"),  # duplicate
    (["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "S-LOC"], "E-LOC"),  # BIOES, missing
    (["B-PER", "I-PER", "B-LOC", "I-LOC"], "'O'"),
])
def test_bad_tag_list_raises(tags, offending):
    dist = SpanSegmentation(torch.randn(1, 3, 3, 2, dtype=torch.float64), labels=TYPES)
    for project in (tag_marginals, tag_pair_marginals):
        with pytest.raises(ValueError, match=offending):
            project(dist, tags)


def test_type_names_are_required_and_must_match():
    pot = torch.randn(1, 3, 3, 2, dtype=torch.float64)
    tags = tag_set(2, bioes=False)
    with pytest.raises(ValueError, match="types"):
        tag_marginals(SpanSegmentation(pot), tags)
    with pytest.raises(ValueError, match="type names"):
        tag_marginals(SpanSegmentation(pot), tags, ["PER"])
    with pytest.raises(ValueError, match="labels"):
        SpanSegmentation(pot, labels=["PER"])
    named, unnamed = SpanSegmentation(pot, labels=TYPES), SpanSegmentation(pot)
    assert torch.equal(tag_marginals(named, tags), tag_marginals(unnamed, tags, TYPES))
