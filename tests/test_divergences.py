"""structkd.divergences against enumeration of every output of tiny inputs (float64).

Two parts: the teacher brought into the student's family (``teacher_view``) is checked against the enumerated
teacher for every kind of pair; then every divergence between that view ``p`` and the student ``q`` is checked
against the sums over the student's outputs, per student structure (chain, MaxEnt, head selection, projective
and non-projective trees): exact values to 1e-8, gradients against autograd through the enumeration, bounds on
either side of the truth on random instances, sampled estimates within 3 standard errors.
"""
from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import brute
from structkd import (
    HeadSelection, LinearChainCRF, MaxEnt, NonProjectiveDependencyCRF, ProjectionError, ProjectiveDependencyCRF,
    SiblingMeanField, SpanSegmentation, constraint_scores, kd_term, project,
)
from structkd import divergences as D
from structkd.structs.samplers import sample

DT = torch.float64
TAGS = ["O", "B-X", "I-X", "B-Y", "I-Y"]


# ----------------------------------------------------------------------------- enumeration
def outputs(kind: str, n: int, num_labels: int = 3, multiroot: bool = False):
    """``(compact outputs, parts)`` of every output of a one-sentence ``kind`` distribution over ``n`` tokens."""
    if kind in ("chain", "maxent"):
        ys = brute.label_sequences(n, num_labels)
        to_parts = brute.chain_parts if kind == "chain" else brute.token_parts
        return ys, [to_parts(y, n, num_labels) for y in ys]
    if kind == "heads":
        ys = [list(h) for h in itertools.product(range(n + 1), repeat=n) if all(h[m - 1] != m for m in range(1, n + 1))]
    else:
        ys = brute.trees(n, kind == "projective", multiroot)
    return ys, [brute.arc_parts(h, n) for h in ys]


def probs(dist, parts) -> torch.Tensor:
    """(Y,) the enumerated probabilities of a one-sentence ``dist`` over ``parts``."""
    return brute.distribution(dist.log_potentials[0], parts)[1]


def make(kind: str, potentials: torch.Tensor, multiroot: bool = False, labels=None):
    lengths = torch.tensor([potentials.shape[1] - (kind in ("heads", "projective", "nonprojective"))])
    if kind == "chain":
        return LinearChainCRF(potentials, lengths, labels)
    if kind == "maxent":
        return MaxEnt(potentials, lengths, labels)
    if kind == "heads":
        return HeadSelection(potentials, lengths)
    cls = ProjectiveDependencyCRF if kind == "projective" else NonProjectiveDependencyCRF
    return cls(potentials, lengths, multiroot)


def shape(kind: str, n: int, num_labels: int = 3) -> tuple:
    return {"chain": (1, n, num_labels, num_labels), "maxent": (1, n, num_labels)}.get(kind, (1, n + 1, n + 1))


def truth(p: torch.Tensor, q: torch.Tensor, beta: float = 0.5) -> dict:
    """Every divergence by its definition over enumerated probabilities."""
    m = (1 - beta) * p + beta * q

    def kl(a, b):
        return torch.where(a > 0, a * (a / b).log(), torch.zeros_like(a)).sum()

    return {"kl": kl(p, q), "rkl": kl(q, p), "js": (1 - beta) * kl(p, m) + beta * kl(q, m),
            "tvd": 0.5 * (p - q).abs().sum(), "hellinger": 1 - (p * q).sqrt().sum()}


STUDENTS = ["chain", "maxent", "heads", "projective", "nonprojective"]


def random_pair(kind: str, n: int, scale: float, seed: int, requires_grad: bool = False):
    """A teacher and a student of the same ``kind`` with random scores of the given scale."""
    gen = torch.Generator().manual_seed(seed)
    teacher = make(kind, torch.randn(shape(kind, n), generator=gen, dtype=DT) * scale)
    scores = torch.randn(shape(kind, n), generator=gen, dtype=DT) * scale
    student = make(kind, scores.requires_grad_(requires_grad))
    return teacher, student


# ----------------------------------------------------------------------------- the teacher in the student's family
def test_same_family_view_is_the_teacher():
    for kind in STUDENTS:
        teacher, student = random_pair(kind, 3, 1.5, 0)
        _, parts = outputs(kind, 3)
        view = D.teacher_view(teacher, student)
        assert type(view) is type(student)
        assert torch.allclose(probs(view, parts), probs(teacher, parts), atol=1e-12), kind


def test_product_students_get_the_m_projection():
    """Chain -> MaxEnt and tree -> head selection: the product of the teacher's marginals."""
    chain = LinearChainCRF(torch.randn(1, 3, 3, 3, dtype=DT))
    tree = NonProjectiveDependencyCRF(torch.randn(1, 4, 4, dtype=DT))
    for teacher, kind, student in [(chain, "chain", MaxEnt(torch.zeros(1, 3, 3, dtype=DT))),
                                   (tree, "nonprojective", HeadSelection(torch.zeros(1, 4, 4, dtype=DT)))]:
        ys_t, parts_t = outputs(kind, 3)
        p_t = probs(teacher, parts_t)
        view = D.teacher_view(teacher, student)
        ys_s, parts_s = outputs("maxent" if kind == "chain" else "heads", 3)
        p_view = probs(view, parts_s)
        marg_t = sum(p * (brute.token_parts(y, 3, 3) if kind == "chain" else brute.arc_parts(y, 3))
                     for p, y in zip(p_t, ys_t))
        marg_view = sum(p * parts for p, parts in zip(p_view, parts_s))
        assert torch.allclose(marg_view, marg_t, atol=1e-12)
        # p~(y) = prod_i P_t(y_i): the product of the enumerated teacher marginals of the output's choices
        expected = torch.stack([(marg_t * parts).sum(-1)[parts.sum(-1) > 0].prod() for parts in parts_s])
        assert torch.allclose(p_view, expected, atol=1e-12)


def test_constrained_chain_student_gets_the_conditioned_maxent_teacher():
    """MaxEnt -> BIO chain: the teacher's independent labels conditioned on the sequences the student allows."""
    n, c = 3, len(TAGS)
    teacher = MaxEnt(torch.randn(1, n, c, dtype=DT), labels=TAGS)
    start, transitions, _ = constraint_scores(TAGS, DT)
    student = LinearChainCRF.from_emissions(torch.zeros(1, n, c, dtype=DT), transitions, start=start, labels=TAGS)
    ys, parts = outputs("chain", n, c)
    allowed = torch.stack([torch.isfinite(brute.distribution(student.log_potentials[0], [pt])[0]) for pt in parts])
    p_t = probs(teacher, [brute.token_parts(y, n, c) for y in ys])
    expected = torch.where(allowed, p_t, torch.zeros_like(p_t))
    assert torch.allclose(probs(D.teacher_view(teacher, student), parts), expected / expected.sum(), atol=1e-12)


def test_span_teacher_becomes_the_chain_with_its_pair_marginals():
    teacher = SpanSegmentation(torch.randn(1, 3, 3, 2, dtype=DT), labels=["X", "Y"])
    student = LinearChainCRF(torch.zeros(1, 3, len(TAGS), len(TAGS), dtype=DT), labels=TAGS)
    view = D.teacher_view(teacher, student)
    assert torch.allclose(view.marginals, project(teacher, student), atol=1e-10)


@pytest.mark.parametrize("teacher_kind, student_kind, multiroot", [
    ("heads", "nonprojective", (False, False)), ("nonprojective", "projective", (False, False)),
    ("nonprojective", "nonprojective", (True, False)),
])
def test_tree_students_get_the_teacher_conditioned_on_their_trees(teacher_kind, student_kind, multiroot):
    n = 3
    teacher = make(teacher_kind, torch.randn(1, n + 1, n + 1, dtype=DT), multiroot[0])
    student = make(student_kind, torch.zeros(1, n + 1, n + 1, dtype=DT), multiroot[1])
    ys_t, parts_t = outputs(teacher_kind, n, multiroot=multiroot[0])
    ys_s, parts_s = outputs(student_kind, n, multiroot=multiroot[1])
    p_t = dict(zip(map(tuple, ys_t), probs(teacher, parts_t)))
    expected = torch.stack([p_t[tuple(y)] for y in ys_s])
    assert torch.allclose(probs(D.teacher_view(teacher, student), parts_s), expected / expected.sum(), atol=1e-12)


def test_pairs_without_a_distribution_on_the_student_outputs_are_refused():
    n = 3
    projective = ProjectiveDependencyCRF(torch.randn(1, n + 1, n + 1))
    with pytest.raises(ProjectionError, match="subset of the student's"):
        D.kl(projective, NonProjectiveDependencyCRF(torch.randn(1, n + 1, n + 1)))
    single = NonProjectiveDependencyCRF(torch.randn(1, n + 1, n + 1))
    with pytest.raises(ProjectionError, match="subset of the student's"):
        D.reverse_kl(single, NonProjectiveDependencyCRF(torch.randn(1, n + 1, n + 1), multiroot=True))
    mean_field = SiblingMeanField(torch.randn(1, n + 1, n + 1), torch.randn(1, n + 1, n + 1, n + 1))
    with pytest.raises(ProjectionError, match="SiblingMeanField -> NonProjectiveDependencyCRF"):
        D.js(mean_field, NonProjectiveDependencyCRF(torch.randn(1, n + 1, n + 1)))
    with pytest.raises(ProjectionError, match="chain students"):
        D.js_stepwise(MaxEnt(torch.randn(1, n, 3)), MaxEnt(torch.randn(1, n, 3)))
    with pytest.raises(ValueError, match="beta"):
        D.js(MaxEnt(torch.randn(1, n, 3)), MaxEnt(torch.randn(1, n, 3)), beta=1.5)


def test_mean_field_teacher_distils_into_head_selection():
    """2b: the product of the mean-field arc marginals is a distribution, so every divergence is defined."""
    n = 3
    mean_field = SiblingMeanField(torch.randn(1, n + 1, n + 1, dtype=DT), torch.randn(1, n + 1, n + 1, n + 1, dtype=DT))
    student = HeadSelection(torch.randn(1, n + 1, n + 1, dtype=DT))
    view = D.teacher_view(mean_field, student)
    assert torch.allclose(view.marginals, project(mean_field, student), atol=1e-12)
    assert torch.isfinite(D.reverse_kl(mean_field, student).value).all()


# ----------------------------------------------------------------------------- exact values and gradients
@pytest.mark.parametrize("kind", STUDENTS)
@pytest.mark.parametrize("beta", [0.5, 0.85])
def test_exact_values_and_bounds_equal_or_enclose_the_enumeration(kind, beta):
    n = 3
    _, parts = outputs(kind, n)
    for seed in range(6):
        teacher, student = random_pair(kind, n, 1.0 + seed, seed)
        true = truth(probs(teacher, parts), probs(student, parts), beta)
        assert D.kl(teacher, student).value.item() == pytest.approx(true["kl"].item(), abs=1e-8)
        assert D.reverse_kl(teacher, student).value.item() == pytest.approx(true["rkl"].item(), abs=1e-8)
        assert D.hellinger(teacher, student).value.item() == pytest.approx(true["hellinger"].item(), abs=1e-8)
        js = true["js"].item()
        assert D.js_lower(teacher, student, beta).value.item() <= js + 1e-9
        assert js <= D.js(teacher, student, beta).value.item() + 1e-9
        assert D.js(teacher, student, beta).value.item() <= D.js_geometric(teacher, student, beta).value.item() + 1e-9 \
            or kind in ("projective", "nonprojective")
        assert js <= D.js_geometric(teacher, student, beta).value.item() + 1e-9
        tv = true["tvd"].item()
        assert D.tvd_lower(teacher, student).value.item() <= tv + 1e-9 <= D.tvd(teacher, student).value.item() + 2e-9
        if kind == "chain":
            assert D.js(teacher, student, beta).value.item() <= D.js_stepwise(teacher, student, beta).value.item() + 1e-9


@pytest.mark.parametrize("kind", STUDENTS)
def test_gradients_match_autograd_through_the_enumeration(kind):
    n = 3
    _, parts = outputs(kind, n)
    teacher, student = random_pair(kind, n, 1.5, 7, requires_grad=True)
    p = probs(teacher, parts)
    scores = student.log_potentials
    for name, fn in [("kl", D.kl), ("rkl", D.reverse_kl), ("hellinger", D.hellinger)]:
        (got,) = torch.autograd.grad(fn(teacher, make(kind, scores)).value.sum(), scores)
        (want,) = torch.autograd.grad(truth(p, probs(student, parts))[name], scores)
        assert torch.allclose(got, want, atol=1e-8), (kind, name)


@pytest.mark.parametrize("kind", ["chain", "heads", "nonprojective", "projective"])
def test_reverse_kl_passes_gradcheck(kind):
    teacher, student = random_pair(kind, 3, 1.0, 3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: D.reverse_kl(teacher, make(kind, s)).value, (student.log_potentials,))


@pytest.mark.parametrize("kind", STUDENTS)
def test_every_bound_and_divergence_is_zero_when_teacher_equals_student(kind):
    _, student = random_pair(kind, 3, 2.0, 5)
    for fn in (D.kl, D.reverse_kl, D.hellinger, D.js, D.js_lower, D.js_geometric, D.tvd, D.tvd_lower):
        assert abs(fn(student, student).value.item()) < 1e-6, (kind, fn.__name__)
    if kind == "chain":
        assert abs(D.js_stepwise(student, student).value.item()) < 1e-9


@pytest.mark.parametrize("kind", STUDENTS)
def test_padded_batches_equal_single_sentences(kind):
    n_max, lengths = 4, [4, 2, 3]
    gen = torch.Generator().manual_seed(11)
    size = shape(kind, n_max)
    pot_t = torch.randn((3, *size[1:]), generator=gen, dtype=DT)
    pot_s = torch.randn((3, *size[1:]), generator=gen, dtype=DT)
    cls_args = {"chain": (LinearChainCRF, ()), "maxent": (MaxEnt, ()), "heads": (HeadSelection, ()),
                "projective": (ProjectiveDependencyCRF, (False,)), "nonprojective": (NonProjectiveDependencyCRF, (False,))}
    cls, extra = cls_args[kind]
    batch_t, batch_s = cls(pot_t, torch.tensor(lengths), *extra), cls(pot_s, torch.tensor(lengths), *extra)
    for fn in (D.kl, D.reverse_kl, D.js, D.js_lower, D.js_geometric, D.hellinger, D.tvd, D.tvd_lower):
        batched = fn(batch_t, batch_s).value
        for b, n in enumerate(lengths):
            cut = (slice(b, b + 1),) + (slice(0, n + (kind in ("heads", "projective", "nonprojective"))),) * (
                2 if kind in ("heads", "projective", "nonprojective") else 1)
            alone = fn(cls(pot_t[cut], torch.tensor([n]), *extra), cls(pot_s[cut], torch.tensor([n]), *extra)).value
            assert batched[b].item() == pytest.approx(alone.item(), abs=1e-9), (kind, fn.__name__, b)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(STUDENTS), n=st.integers(1, 4), scale=st.sampled_from([0.1, 1.0, 5.0, 20.0, 50.0]),
       seed=st.integers(0, 10_000), beta=st.sampled_from([0.1, 0.5, 0.85]))
def test_bounds_hold_on_random_shapes_and_extreme_scores(kind, n, scale, seed, beta):
    """The exact values stay exact and every bound stays on its side of the truth, also on peaked scores."""
    if kind in ("projective", "nonprojective") and n > 3:
        n = 3  # enumeration of trees
    _, parts = outputs(kind, n, num_labels=2 if kind in ("chain", "maxent") else 3)
    teacher, student = random_pair(kind, n, scale, seed) if kind not in ("chain", "maxent") else (
        make(kind, torch.randn(shape(kind, n, 2), generator=torch.Generator().manual_seed(seed), dtype=DT) * scale),
        make(kind, torch.randn(shape(kind, n, 2), generator=torch.Generator().manual_seed(seed + 1), dtype=DT) * scale))
    true = truth(probs(teacher, parts), probs(student, parts), beta)
    scale_tol = 1e-7 * max(1.0, true["kl"].item(), true["rkl"].item())
    assert D.kl(teacher, student).value.item() == pytest.approx(true["kl"].item(), abs=scale_tol)
    assert D.reverse_kl(teacher, student).value.item() == pytest.approx(true["rkl"].item(), abs=scale_tol)
    js, tv = true["js"].item(), true["tvd"].item()
    assert D.js_lower(teacher, student, beta).value.item() <= js + 1e-7
    assert js <= D.js(teacher, student, beta).value.item() + 1e-7
    assert D.tvd_lower(teacher, student).value.item() <= tv + 1e-7 <= D.tvd(teacher, student).value.item() + 2e-7
    if kind == "chain":
        assert D.js(teacher, student, beta).value.item() <= D.js_stepwise(teacher, student, beta).value.item() + 1e-7


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", STUDENTS + ["multiroot"])
def test_samplers_draw_every_output_with_its_probability(kind):
    n = 3
    multiroot = kind == "multiroot"
    kind = "nonprojective" if multiroot else kind
    ys, parts = outputs(kind, n, multiroot=multiroot)
    dist = make(kind, torch.randn(shape(kind, n), generator=torch.Generator().manual_seed(2), dtype=DT), multiroot)
    draws = 20_000
    got = sample(dist, draws, torch.Generator().manual_seed(3))[:, 0]  # (K, N[+1])
    if kind not in ("chain", "maxent"):
        got = got[:, 1:]
    index = {tuple(y): i for i, y in enumerate(ys)}
    counts = torch.bincount(torch.tensor([index[tuple(y)] for y in got.tolist()]), minlength=len(ys)).to(DT)
    p = probs(dist, parts)
    stderr = (p * (1 - p) / draws).sqrt()
    assert ((counts / draws - p).abs() <= 4 * stderr + 1e-12).all()


def test_samplers_respect_padding():
    chain = LinearChainCRF(torch.randn(2, 4, 3, 3), torch.tensor([4, 2]))
    assert (sample(chain, 6)[:, 1, 2:] == 0).all()
    tree = NonProjectiveDependencyCRF(torch.randn(2, 5, 5), torch.tensor([4, 2]))
    heads = sample(tree, 6)
    assert (heads[:, 1, 3:] == 0).all() and (heads[:, :, 0] == 0).all()
    assert (heads[:, 1, 1:3] <= 2).all()


@pytest.mark.parametrize("kind", STUDENTS)
def test_sampled_estimates_lie_within_three_standard_errors(kind):
    n = 3
    _, parts = outputs(kind, n)
    teacher, student = random_pair(kind, n, 1.5, 21)
    true = truth(probs(teacher, parts), probs(student, parts), 0.5)
    for fn, name in ((D.js_estimate, "js"), (D.tvd_estimate, "tvd")):
        estimate = fn(teacher, student, samples=400, generator=torch.Generator().manual_seed(4))
        assert estimate.kind == "estimate" and estimate.stderr.item() > 0
        assert abs(estimate.value.item() - true[name].item()) <= 3 * estimate.stderr.item(), (kind, name)


@pytest.mark.parametrize("name", ["js", "tvd"])
def test_score_function_gradients_are_unbiased(name):
    """The estimators' gradients, averaged over many draws, agree with the enumerated gradient of the truth."""
    kind, n = "chain", 2
    _, parts = outputs(kind, n)
    teacher, student = random_pair(kind, n, 1.0, 8, requires_grad=True)
    scores = student.log_potentials
    (want,) = torch.autograd.grad(truth(probs(teacher, parts), probs(student, parts))[name], scores)
    fn = D.js_estimate if name == "js" else D.tvd_estimate
    grads = []
    for rep in range(40):
        value = fn(teacher, make(kind, scores), samples=200, generator=torch.Generator().manual_seed(100 + rep)).value
        grads.append(torch.autograd.grad(value.sum(), scores)[0])
    grads = torch.stack(grads)
    stderr = grads.std(0) / len(grads) ** 0.5
    assert ((grads.mean(0) - want).abs() <= 4 * stderr + 1e-9).all()


# ----------------------------------------------------------------------------- as training objectives
@pytest.mark.parametrize("kind", STUDENTS)
def test_training_objectives_are_the_divergences(kind):
    teacher, student = random_pair(kind, 3, 1.0, 13)
    for method, fn in (("kl", D.kl), ("rkl", D.reverse_kl), ("js", D.js), ("tvd", D.tvd)):
        assert torch.allclose(kd_term(teacher, student, method), fn(teacher, student).value, atol=1e-10)
    # temperature T: both distributions' potentials / T, times T^2
    hot = kd_term(teacher, student, "rkl", temperature=2.0)
    view = D.teacher_view(teacher, student)
    expected = D.reverse_kl(view.tempered(2.0), student.tempered(2.0)).value * 4
    assert torch.allclose(hot, expected, atol=1e-10)


def test_kl_objective_has_the_gradient_of_structural_kd():
    teacher = LinearChainCRF(torch.randn(2, 4, 3, 3, dtype=DT))
    scores = torch.randn(2, 4, 3, dtype=DT, requires_grad=True)
    (g_kl,) = torch.autograd.grad(kd_term(teacher, MaxEnt(scores), "kl").sum(), scores)
    (g_structural,) = torch.autograd.grad(kd_term(teacher, MaxEnt(scores), "structural").sum(), scores)
    assert torch.allclose(g_kl, g_structural, atol=1e-12)


@pytest.mark.parametrize("kind", ["chain", "heads", "nonprojective"])
def test_cached_targets_of_each_sentence_give_the_batch_objective(kind):
    """Targets cut per sentence and zero-padded again (as the target cache does) give the same objective."""
    from structkd import kd_from_marginals
    from structkd.training.distillation import pad_stack

    lengths = torch.tensor([4, 2, 3])
    gen = torch.Generator().manual_seed(5)
    size = (3, *shape(kind, 4)[1:])
    cls = {"chain": LinearChainCRF, "heads": HeadSelection, "nonprojective": NonProjectiveDependencyCRF}[kind]
    teacher = cls(torch.randn(size, generator=gen, dtype=DT), lengths)
    student = cls(torch.randn(size, generator=gen, dtype=DT), lengths)
    targets = D.divergence_targets(teacher, student)
    cut = pad_stack([targets[b][student.sentence_slice(int(n))] for b, n in enumerate(lengths)])
    for method in D.OBJECTIVES:
        assert torch.allclose(kd_from_marginals(cut, student, method, 2.0, 2.0, 0.3),
                              kd_term(teacher, student, method, temperature=2.0, beta=0.3), atol=1e-10), method
