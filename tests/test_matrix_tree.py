"""The matrix-tree fast path (batched LU, its trust checked per sentence) against the exact subtraction-free
elimination, which tests/test_trees.py checks against enumeration.

Float64.  Hypothesis draws batch shapes, lengths and score scales up to 50 (trained parsers' arc scores span
tens of nats; at scale 20-50 plain LU loses log Z on many sentences).
"""
import pytest
import torch
from hypothesis import example, given, settings, strategies as st

from structkd.structs import NonProjectiveDependencyCRF
from structkd.structs.base import FORBIDDEN
from structkd.structs.matrix_tree import exact_log_partition, lu_log_partition, matrix_tree_log_partition


def scores(seed, batch, n, scale, padded):
    """``(batch, n+1, n+1)`` float64 scores ``scale * randn`` and lengths (random when ``padded``)."""
    generator = torch.Generator().manual_seed(seed)
    phi = scale * torch.randn(batch, n + 1, n + 1, generator=generator, dtype=torch.float64)
    lengths = torch.randint(1, n + 1, (batch,), generator=generator) if padded else torch.full((batch,), n)
    return phi, lengths


def planted_cycles(batch=4, n=12, strength=30.0, seed=0):
    """Scores whose preferred heads form 2-cycles that outweigh every tree by about ``strength`` nats each:
    the case where LU's pivots are small differences of large numbers."""
    phi, lengths = scores(seed, batch, n, 1.0, padded=False)
    for m in range(1, n, 2):
        phi[:, m, m + 1] = phi[:, m + 1, m] = strength
    phi[:, 1:, 0] -= strength
    return phi, lengths


CASES = dict(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 30), batch=st.integers(1, 6),
             scale=st.sampled_from([0.1, 1.0, 5.0, 20.0, 50.0]), multiroot=st.booleans(), padded=st.booleans())


@settings(max_examples=80, deadline=None)
@given(**CASES)
def test_a_trusted_fast_value_equals_the_exact_elimination(seed, n, batch, scale, multiroot, padded):
    phi, lengths = scores(seed, batch, n, scale, padded)
    exact = exact_log_partition(phi, lengths, multiroot)
    fast, trusted = lu_log_partition(phi, lengths, multiroot)
    assert torch.allclose(fast[trusted], exact[trusted], rtol=1e-12, atol=1e-8)
    checked = matrix_tree_log_partition(phi, lengths, multiroot)
    assert torch.allclose(checked, exact, rtol=1e-12, atol=1e-8)
    assert torch.equal(checked[~trusted], exact[~trusted])  # the refused rows come from the exact path


@settings(max_examples=60, deadline=None)
@given(**CASES)
@example(seed=8, n=12, batch=5, scale=50.0, multiroot=False, padded=False)  # a general inverse loses these
def test_marginals_and_their_derivatives_equal_the_exact_elimination(seed, n, batch, scale, multiroot, padded):
    """Marginals taken with ``create_graph`` (the second-order path) and their Hessian-vector products."""
    phi, lengths = scores(seed, batch, min(n, 12), scale, padded)
    phi.requires_grad_()
    direction = torch.randn_like(phi)
    derivatives = []
    for exact in (False, True):
        log_z = matrix_tree_log_partition(phi, lengths, multiroot, exact=exact)
        (marginals,) = torch.autograd.grad(log_z.sum(), phi, create_graph=True)
        (curvature,) = torch.autograd.grad((marginals * direction).sum(), phi)  # Hessian-vector product
        derivatives.append((marginals.detach(), curvature))
    (fast_marginals, fast_curvature), (exact_marginals, exact_curvature) = derivatives
    assert torch.allclose(fast_marginals, exact_marginals, atol=1e-9)
    assert torch.allclose(fast_curvature, exact_curvature, atol=1e-8)


def exact_derivatives(phi, lengths, multiroot, direction):
    """Log Z, marginals and ``H d`` by autograd through the exact elimination."""
    leaf = phi.detach().requires_grad_()
    log_z = exact_log_partition(leaf, lengths, multiroot)
    (marginals,) = torch.autograd.grad(log_z.sum(), leaf, create_graph=True)
    (curvature,) = torch.autograd.grad((marginals * direction).sum(), leaf)
    return log_z.detach(), marginals.detach(), curvature


@settings(max_examples=60, deadline=None)
@given(**CASES)
@example(seed=8, n=12, batch=5, scale=50.0, multiroot=False, padded=False)
def test_closed_form_derivatives_equal_autograd_through_the_exact_elimination(seed, n, batch, scale, multiroot,
                                                                             padded):
    """``NonProjectiveDependencyCRF.derivatives``: the fast path's closed form where it is trusted (no second
    factorization), autograd through the exact path elsewhere; with and without a direction."""
    phi, lengths = scores(seed, batch, min(n, 12), scale, padded)
    phi[:, 2, 1] = float("-inf")  # a forbidden arc: its marginal and curvature are 0, not NaN
    direction = torch.randn_like(phi)
    dist = NonProjectiveDependencyCRF(phi, lengths, multiroot)
    log_z, marginals, curvature = dist.derivatives(direction)
    expected = exact_derivatives(phi.clamp(min=-1e5), lengths, multiroot, direction)
    assert torch.allclose(log_z, expected[0], rtol=1e-12, atol=1e-8)
    assert torch.allclose(marginals, expected[1], atol=1e-9)
    assert torch.allclose(curvature, expected[2], atol=1e-8)
    assert (marginals[:, 2, 1] == 0).all() and (curvature[:, 2, 1] == 0).all()
    assert torch.equal(dist.derivatives()[1], marginals) and dist.derivatives()[2] is None


def test_closed_form_derivatives_of_a_mixed_float32_batch_keep_its_dtype():
    """A float32 batch with a refused row (planted cycles) and a padded fast row: float32 out, equal to the
    float64 values."""
    cycles, _ = planted_cycles(batch=1, n=5)
    benign, _ = scores(9, 1, 5, 1.0, padded=False)
    phi, lengths, direction = torch.cat((cycles, benign)), torch.tensor([5, 3]), torch.randn(2, 6, 6)
    assert lu_log_partition(phi, lengths)[1].tolist() == [False, True]
    single = NonProjectiveDependencyCRF(phi.float(), lengths).derivatives(direction.float())
    double = NonProjectiveDependencyCRF(phi.float().double(), lengths).derivatives(direction.double())
    for value, expected in zip(single, double):
        assert value.dtype == torch.float32
        assert torch.allclose(value.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("multiroot", [False, True])
def test_planted_cycles_break_lu_and_are_sent_to_the_exact_path(multiroot):
    phi, lengths = planted_cycles()
    exact = exact_log_partition(phi, lengths, multiroot)
    fast, trusted = lu_log_partition(phi, lengths, multiroot)
    assert not ((fast - exact).abs() <= 1e-6).any()  # plain LU is wrong here (by 1e-5 to nats, or NaN) ...
    assert not trusted.any()  # ... and the check sees it
    assert torch.equal(matrix_tree_log_partition(phi, lengths, multiroot), exact)


def test_a_word_that_cannot_reach_word_1_makes_lu_singular_and_is_refused():
    """Single root: ``M = L[2:, 2:]`` is singular when a word reaches word 1 by no arc of positive weight."""
    phi, lengths = scores(3, 2, 6, 1.0, padded=False)
    phi[0, 3, 1:] = float("-inf")  # word 3 may only hang from the root
    fast, trusted = lu_log_partition(phi, lengths)
    assert trusted.tolist() == [False, True]
    assert torch.allclose(matrix_tree_log_partition(phi, lengths), exact_log_partition(phi, lengths), atol=1e-10)


@pytest.mark.parametrize("multiroot", [False, True])
def test_benign_scores_take_the_fast_path(multiroot):
    """The check does not refuse well-conditioned sentences (else the fast path would buy nothing)."""
    phi, lengths = scores(4, 32, 50, 0.5, padded=True)
    assert lu_log_partition(phi, lengths, multiroot)[1].all()


@pytest.mark.parametrize("multiroot", [False, True])
def test_a_batch_mixing_both_paths_has_exact_first_and_second_derivatives(multiroot):
    """Row 0 is refused (planted cycles), rows 1-2 take the fast path; one padded."""
    cycles, _ = planted_cycles(batch=1, n=5)
    benign, _ = scores(5, 2, 5, 1.0, padded=False)
    phi = torch.cat((cycles, benign)).requires_grad_()
    lengths = torch.tensor([5, 5, 3])
    assert lu_log_partition(phi, lengths, multiroot)[1].tolist() == [False, True, True]
    function = lambda x: matrix_tree_log_partition(x, lengths, multiroot)  # noqa: E731
    assert torch.autograd.gradcheck(function, (phi,))
    assert torch.autograd.gradgradcheck(function, (phi,))


def test_a_sentence_lapack_cannot_factor_is_refused_not_fatal(monkeypatch):
    """Whatever LAPACK returns for a row (here: undefined pivots, as it may for NaN input), the row goes to the
    exact path and the others keep the fast one."""
    phi, lengths = scores(6, 3, 5, 1.0, padded=False)
    factor = torch.linalg.lu_factor_ex

    def broken_first_row(matrix):
        lu, pivots, info = factor(matrix)
        pivots = pivots.clone()
        pivots[0] = 0
        return lu, pivots, info

    monkeypatch.setattr(torch.linalg, "lu_factor_ex", broken_first_row)
    assert lu_log_partition(phi, lengths)[1].tolist() == [False, True, True]
    assert torch.allclose(matrix_tree_log_partition(phi, lengths), exact_log_partition(phi, lengths), atol=1e-10)


@pytest.mark.parametrize("multiroot", [False, True])
def test_nan_scores_give_nan_log_z_for_their_sentence_only(multiroot):
    phi, lengths = scores(7, 3, 6, 1.0, padded=False)
    phi[1, 2, 3] = float("nan")
    log_z = matrix_tree_log_partition(phi, lengths, multiroot)
    assert log_z[1].isnan() and torch.isfinite(log_z[[0, 2]]).all()


@pytest.mark.parametrize("multiroot", [False, True])
def test_minus_inf_scores_count_as_forbidden_scores(multiroot):
    """The distribution hands its scores to the matrix-tree unmasked; a ``-inf`` arc is read as ``FORBIDDEN``
    there, as by every dynamic program: the same log Z, marginals and curvature, with no NaN, even for a word
    whose every head is ``-inf``."""
    phi, lengths = scores(11, 3, 5, 1.0, padded=True)
    phi[:, 2, 1] = float("-inf")
    phi[0, 3, :] = float("-inf")
    forbidden = phi.masked_fill(phi == float("-inf"), FORBIDDEN)
    direction = torch.randn_like(phi)
    derived = NonProjectiveDependencyCRF(phi, lengths, multiroot).derivatives(direction)
    expected = NonProjectiveDependencyCRF(forbidden, lengths, multiroot).derivatives(direction)
    for value, reference in zip(derived, expected):
        assert not value.isnan().any()
        assert torch.allclose(value, reference, rtol=1e-12, atol=1e-12)
    leaf = phi.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(NonProjectiveDependencyCRF(leaf, lengths, multiroot).partition.sum(), leaf)
    assert torch.allclose(gradient, expected[1], atol=1e-12)
