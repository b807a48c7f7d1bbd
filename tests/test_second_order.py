"""Mean-field second-order sibling model against exact enumeration of its distribution.

Mean-field is exact when the sibling scores vanish, and its error grows with the coupling: the fixed
point matches the exact marginals to first order in the sibling scores, so the error at coupling eps is
O(eps^2).  The tests check exactness at eps = 0 (1e-10), the bound |q - p| <= 2 eps^2 on random
instances (measured over 200 random seeds at eps = 0.1, n = 4: at most 0.29 eps^2), and that halving eps
shrinks the error by about 4 (measured 3.5 to 4.6 over the same seeds; asserted between 3 and 5).
"""
import itertools

import pytest
import torch

import brute
from structkd import SiblingMeanField

DT = torch.float64


def exact_marginals(arc, sib, n):
    """Exact arc marginals of p(h) ∝ exp(sum_m arc[m, h_m] + sum_{m != s, h_m = h_s} sib[h_m, m, s])."""
    outputs = [h for h in itertools.product(range(n + 1), repeat=n) if all(h[m - 1] != m for m in range(1, n + 1))]
    scores = []
    for h in outputs:
        score = sum(arc[m, h[m - 1]] for m in range(1, n + 1))
        score = score + sum(sib[h[m - 1], m, s] for m in range(1, n + 1) for s in range(1, n + 1)
                            if s != m and h[m - 1] == h[s - 1])
        scores.append(score)
    probs = torch.stack(scores).softmax(0)
    return sum(p * brute.arc_parts(list(h), n) for p, h in zip(probs, outputs))


def mf_error(eps, n=4, seed=0, iterations=50):
    g = torch.Generator().manual_seed(seed)
    arc = torch.randn(1, n + 1, n + 1, dtype=DT, generator=g)
    sib = eps * torch.randn(1, n + 1, n + 1, n + 1, dtype=DT, generator=g)
    q = SiblingMeanField(arc, sib, torch.tensor([n]), iterations=iterations).marginals[0]
    return (q - exact_marginals(arc[0], sib[0], n)).abs().max().item()


def test_mean_field_is_exact_without_sibling_scores():
    assert mf_error(0.0) < 1e-10


@pytest.mark.parametrize("seed", range(5))
def test_mean_field_error_is_second_order_in_the_coupling(seed):
    e1, e2 = mf_error(0.1, seed=seed), mf_error(0.05, seed=seed)
    assert e1 <= 2 * 0.1**2
    assert 3.0 < e1 / e2 < 5.0


def test_marginals_are_distributions_over_heads_and_padding_is_zero():
    arc, sib = torch.randn(2, 5, 5, dtype=DT), torch.randn(2, 5, 5, 5, dtype=DT)
    q = SiblingMeanField(arc, sib, torch.tensor([4, 2])).marginals
    assert torch.allclose(q[0, 1:].sum(-1), torch.ones(4, dtype=DT))
    assert torch.allclose(q[1, 1:3].sum(-1), torch.ones(2, dtype=DT))
    assert q[1, 3:].abs().sum() == 0 and q[1, :, 3:].abs().sum() == 0 and q[:, 0].abs().sum() == 0
    single = SiblingMeanField(arc[1:, :3, :3], sib[1:, :3, :3, :3], torch.tensor([2])).marginals
    assert torch.allclose(q[1, :3, :3], single[0])


def test_decode_is_the_maximum_spanning_tree_of_the_marginals():
    arc, sib = torch.randn(1, 5, 5, dtype=DT), 0.3 * torch.randn(1, 5, 5, 5, dtype=DT)
    model = SiblingMeanField(arc, sib, torch.tensor([4]))
    heads = model.decode()[0, 1:].tolist()
    q = model.marginals[0]
    best = max(brute.trees(4, False, False), key=lambda h: sum(q[m, x].log() for m, x in enumerate(h, 1)))
    assert heads == best


def test_gold_loss_is_negative_log_marginal_of_the_gold_heads():
    arc, sib = torch.randn(1, 4, 4, dtype=DT), torch.randn(1, 4, 4, 4, dtype=DT)
    model = SiblingMeanField(arc, sib)
    heads = torch.tensor([[0, 2, 0, 2]])
    q = model.marginals[0]
    assert torch.allclose(model.gold_loss(heads)[0], -(q[1, 2].log() + q[2, 0].log() + q[3, 2].log()))


def test_gold_loss_gradients_are_finite_and_pass_gradcheck():
    """Rows without heads (the root's, padding) must not leak NaN into the gradients of the scores."""
    arc = torch.randn(2, 4, 4, dtype=DT, requires_grad=True)
    sib = torch.randn(2, 4, 4, 4, dtype=DT, requires_grad=True)
    lengths, heads = torch.tensor([3, 2]), torch.tensor([[0, 2, 0, 2], [0, 2, 0, 0]])
    SiblingMeanField(arc, sib, lengths).gold_loss(heads).sum().backward()
    assert torch.isfinite(arc.grad).all() and torch.isfinite(sib.grad).all()
    assert torch.autograd.gradcheck(lambda a, s: SiblingMeanField(a, s, lengths).gold_loss(heads), (arc, sib))
