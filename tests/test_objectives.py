"""Every scenario's factorized KD objective against the cross-entropy computed by enumeration.

For each teacher/student pair the enumerated objective is

    CE = - sum_{y in teacher outputs} p_t(y) [Score_s(y) - log Z_s],   log Z_s over the student's outputs,

i.e. the cross-entropy -sum_y p_t(y) log p_s(y) whenever every teacher output is a student output.
When the teacher has outputs the student cannot produce (a head-selection teacher's non-trees for a tree
student, a non-projective tree for a projective student) the true cross-entropy is infinite, and both the
factorized objective and the formula above are the cross-entropy of the student's unnormalised
extension exp(Score_s(y)) / Z_s -- what Structural KD optimises in that case.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch

import brute
from structkd import (
    HeadSelection, LinearChainCRF, MaxEnt, NonProjectiveDependencyCRF, ProjectionError, ProjectiveDependencyCRF,
    SiblingMeanField, SpanSegmentation, annealed_lambda, kd_from_marginals, kd_loss, kd_targets, kd_term, project,
    constraint_scores, scenario,
)
from structkd.objectives import teacher_topk

torch.manual_seed(1)
DT = torch.float64
N = 3  # words / tokens of the tiny sentences
TYPES = ["X", "Y"]
TAGS = {"BIO": ["O", "B-X", "I-X", "B-Y", "I-Y"], "BIOES": ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]}


@dataclass
class Case:
    """A teacher, a student factory over given potentials, and the enumeration of both."""
    teacher: object
    make_student: callable
    student_shape: tuple
    teacher_outputs: list  # compact outputs of the teacher's support
    teacher_probs: torch.Tensor  # (Y,) p_t over teacher_outputs
    to_student_parts: callable  # compact teacher output -> student parts (student_shape)
    student_outputs_parts: list  # parts of every student output


# ----------------------------------------------------------------------------- enumerations of each family
def head_assignments(n):
    return [list(h) for h in itertools.product(range(n + 1), repeat=n) if all(h[m - 1] != m for m in range(1, n + 1))]


def tag_sequence(spans, n, tags):
    """A segmentation -> its tag ids in the scheme of ``tags``."""
    bioes = "S-X" in tags
    out = ["O"] * n
    for i, j, r in spans:
        kind = TYPES[r]
        if i == j:
            out[i] = ("S-" if bioes else "B-") + kind
            continue
        out[i] = "B-" + kind
        for m in range(i + 1, j):
            out[m] = "I-" + kind
        out[j] = ("E-" if bioes else "I-") + kind
    return [tags.index(t) for t in out]


def labels_family(kind, num_labels, n, tags=None):
    """(factory(potentials) -> dist, potentials shape, outputs, parts fn) for chain/maxent over n tokens."""
    seqs = brute.label_sequences(n, num_labels)
    if kind == "chain":
        return (lambda p: LinearChainCRF(p, torch.tensor([n]), labels=tags), (1, n, num_labels, num_labels), seqs,
                lambda y: brute.chain_parts(y, n, num_labels))
    return (lambda p: MaxEnt(p, torch.tensor([n]), labels=tags), (1, n, num_labels), seqs,
            lambda y: brute.token_parts(y, n, num_labels))


#: tree kind -> (class, constructor options, enumerator of its outputs over n words)
TREE_KINDS = {
    "proj": (ProjectiveDependencyCRF, {}, lambda n: brute.trees(n, True, False)),
    "nonproj": (NonProjectiveDependencyCRF, {}, lambda n: brute.trees(n, False, False)),
    "proj-multiroot": (ProjectiveDependencyCRF, {"multiroot": True}, lambda n: brute.trees(n, True, True)),
    "nonproj-multiroot": (NonProjectiveDependencyCRF, {"multiroot": True}, lambda n: brute.trees(n, False, True)),
    "headsel": (HeadSelection, {}, head_assignments),
}


def tree_family(kind, n):
    cls, options, outputs = TREE_KINDS[kind]
    return (lambda p: cls(p, torch.tensor([n]), **options), (1, n + 1, n + 1), outputs(n),
            lambda h: brute.arc_parts(h, n))


def enumerated_teacher(potentials, outputs, parts_fn):
    _, probs, _, _ = brute.distribution(potentials[0], [parts_fn(y) for y in outputs])
    return probs


def same_family_case(family, t_kind, s_kind, n, **kw):
    """A teacher and a student of one family; the teacher's distribution is conditioned on the outputs both can
    produce (the exact cross-entropy when the student cannot produce all of the teacher's: a tree student of a
    head-selection, multi-root or non-projective teacher; the same distribution otherwise)."""
    t_make, t_shape, outputs, t_parts = family(t_kind, n=n, **kw)
    s_make, s_shape, s_outputs, s_parts = family(s_kind, n=n, **kw)
    t_pot = torch.randn(t_shape, dtype=DT)
    shared = [y for y in outputs if y in s_outputs]
    return Case(t_make(t_pot), s_make, s_shape, shared, enumerated_teacher(t_pot, shared, t_parts), s_parts,
                [s_parts(y) for y in s_outputs])


def second_order_case(s_kind, n):
    arc = torch.randn(1, n + 1, n + 1, dtype=DT)
    sib = torch.randn(1, n + 1, n + 1, n + 1, dtype=DT)
    teacher = SiblingMeanField(arc, sib, torch.tensor([n]))
    q = teacher.marginals[0]
    outputs = head_assignments(n)
    probs = torch.stack([torch.stack([q[m, h] for m, h in enumerate(y, 1)]).prod() for y in outputs])
    s_make, s_shape, s_outputs, s_parts = tree_family(s_kind, n)
    return Case(teacher, s_make, s_shape, outputs, probs, s_parts, [s_parts(y) for y in s_outputs])


def span_case(s_kind, scheme, n):
    tags = TAGS[scheme]
    pot = torch.randn(1, n, n, len(TYPES), dtype=DT)
    teacher = SpanSegmentation(pot, torch.tensor([n]), labels=TYPES)
    segs = brute.segmentations(n, len(TYPES))
    probs = enumerated_teacher(pot, segs, lambda s: brute.span_parts(s, n, len(TYPES)))
    s_make, s_shape, s_outputs, s_parts = labels_family(s_kind, len(tags), n, tags)
    return Case(teacher, s_make, s_shape, [tag_sequence(s, n, tags) for s in segs], probs, s_parts,
                [s_parts(y) for y in s_outputs])


#: scenario name -> builder(n) of its Case over a sentence of n tokens / words
CASES = {
    "1a chain->chain": lambda n: same_family_case(labels_family, "chain", "chain", n, num_labels=3),
    "1a maxent->maxent": lambda n: same_family_case(labels_family, "maxent", "maxent", n, num_labels=3),
    "2a chain->maxent": lambda n: same_family_case(labels_family, "chain", "maxent", n, num_labels=3),
    "3 maxent->chain": lambda n: same_family_case(labels_family, "maxent", "chain", n, num_labels=3),
    **{f"1b {t}->{s}": (lambda n, t=t, s=s: same_family_case(tree_family, t, s, n)) for t in TREE_KINDS
       for s in TREE_KINDS},
    **{f"2b sibling->{s}": (lambda n, s=s: second_order_case(s, n)) for s in TREE_KINDS},
    **{f"4 span->{s} {sch}": (lambda n, s=s, sch=sch: span_case(s, sch, n)) for s in ("maxent", "chain")
       for sch in TAGS},
}


def enumerated_ce(case: Case, student_potentials: torch.Tensor) -> torch.Tensor:
    """-sum_y p_t(y) [Score_s(y) - log Z_s] by enumeration (differentiable in the student potentials)."""
    all_scores = torch.stack([(p * student_potentials[0]).nan_to_num(0.0).sum() for p in case.student_outputs_parts])
    log_z = torch.logsumexp(all_scores, 0)
    scores = torch.stack([(case.to_student_parts(y) * student_potentials[0]).sum() for y in case.teacher_outputs])
    return -(case.teacher_probs * (scores - log_z)).sum()


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("name", list(CASES))
def test_structural_kd_equals_enumerated_cross_entropy_with_gradient(name, n):
    case = CASES[name](n)
    pot = torch.randn(case.student_shape, dtype=DT, requires_grad=True)
    student = case.make_student(pot)
    assert scenario(case.teacher, student) == name.split()[0]
    ours = kd_term(case.teacher, student)
    expected = enumerated_ce(case, pot)
    assert torch.allclose(ours[0], expected, atol=1e-5), (ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), pot)
    (g_enum,) = torch.autograd.grad(expected, pot)
    assert torch.allclose(g_ours, g_enum, atol=1e-5)


@pytest.mark.parametrize("name", ["1a chain->chain", "2a chain->maxent", "3 maxent->chain", "1b proj->nonproj",
                                  "1b nonproj->proj", "2b sibling->headsel", "4 span->chain BIOES"])
def test_structural_kd_gradcheck(name):
    case = CASES[name](N)
    pot = torch.randn(case.student_shape, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: kd_term(case.teacher, case.make_student(p)), (pot,))


def test_projection_of_teacher_marginals_matches_enumeration():
    """P_t over the student's substructures, by enumeration, for the scenarios with a non-trivial map."""
    for name in ["2a chain->maxent", "3 maxent->chain", "4 span->maxent BIO", "4 span->chain BIOES"]:
        case = CASES[name](N)
        student = case.make_student(torch.zeros(case.student_shape, dtype=DT))
        expected = sum(p * case.to_student_parts(y) for p, y in zip(case.teacher_probs, case.teacher_outputs))
        assert torch.allclose(project(case.teacher, student)[0], expected, atol=1e-5), name


# ----------------------------------------------------------------------------- temperature
def test_local_and_global_temperature_match_their_definitions():
    t_pot = torch.randn(1, N, 3, 3, dtype=DT)
    s_pot = torch.randn(1, N, 3, 3, dtype=DT)
    teacher, student = LinearChainCRF(t_pot), LinearChainCRF(s_pot)
    seqs = brute.label_sequences(N, 3)
    parts = [brute.chain_parts(y, N, 3) for y in seqs]
    temp = 2.5
    # local: enumerated marginals, tempered per position over all label pairs
    _, _, marg, _ = brute.distribution(t_pot[0], parts)
    local = (marg.flatten(1).log() / temp).softmax(-1).view_as(marg)
    log_z_s = brute.distribution(s_pot[0] / temp, parts)[0]
    expected_local = (log_z_s - (local * s_pot[0] / temp).sum()) * temp**2
    assert torch.allclose(kd_term(teacher, student, temperature=temp, temperature_mode="local")[0], expected_local)
    # global: the teacher's potentials / T before inference
    _, _, marg_g, _ = brute.distribution(t_pot[0] / temp, parts)
    expected_global = (log_z_s - (marg_g * s_pot[0] / temp).sum()) * temp**2
    assert torch.allclose(kd_term(teacher, student, temperature=temp, temperature_mode="global")[0], expected_global)


# ----------------------------------------------------------------------------- baselines
def _chain_teacher_and_crf_student():
    emissions, transitions = torch.randn(1, N, 3, dtype=DT), torch.randn(3, 3, dtype=DT)
    teacher = LinearChainCRF(torch.randn(1, N, 3, 3, dtype=DT))
    student = LinearChainCRF.from_emissions(emissions, transitions)
    return teacher, student, emissions


def test_token_kd_is_the_teacher_local_softmax_against_the_student_local_softmax():
    _, student, emissions = _chain_teacher_and_crf_student()
    t_emissions = torch.randn(1, N, 3, dtype=DT)
    teacher = LinearChainCRF.from_emissions(t_emissions, torch.randn(3, 3, dtype=DT))
    expected = -(t_emissions.softmax(-1) * emissions.log_softmax(-1)).sum()
    assert torch.allclose(kd_term(teacher, student, "token")[0], expected)


def test_posterior_kd_is_cross_entropy_with_the_student_crf_marginals():
    teacher, student, _ = _chain_teacher_and_crf_student()
    seqs = brute.label_sequences(N, 3)
    _, _, s_marg, _ = brute.distribution(student.log_potentials[0], [brute.chain_parts(y, N, 3) for y in seqs])
    expected = -(teacher.marginals.sum(-2)[0] * s_marg.sum(-2).log()).sum()
    assert torch.allclose(kd_term(teacher, student, "posterior")[0], expected)


def test_posterior_kd_gradient_matches_enumeration():
    teacher = LinearChainCRF(torch.randn(1, N, 2, 2, dtype=DT))
    pot = torch.randn(1, N, 2, 2, dtype=DT, requires_grad=True)
    parts = [brute.chain_parts(y, N, 2) for y in brute.label_sequences(N, 2)]
    ours = kd_term(teacher, LinearChainCRF(pot), "posterior")[0]
    expected = -(teacher.marginals.sum(-2)[0] * brute.distribution(pot[0], parts)[2].sum(-2).log()).sum()
    assert torch.allclose(torch.autograd.grad(ours, pot)[0], torch.autograd.grad(expected, pot)[0])


@pytest.mark.parametrize("k", [1, 3])
def test_topk_kd_weights_the_teacher_k_best_outputs(k):
    t_pot, s_pot = torch.randn(1, N, 3, 3, dtype=DT), torch.randn(1, N, 3, dtype=DT)
    seqs = brute.label_sequences(N, 3)
    _, probs, _, scores = brute.distribution(t_pot[0], [brute.chain_parts(y, N, 3) for y in seqs])
    best = scores.argsort(descending=True)[:k]
    weights = probs[best] / probs[best].sum()
    log_p_s = s_pot.log_softmax(-1)[0]
    expected = -sum(w * sum(log_p_s[i, seqs[j][i]] for i in range(N)) for w, j in zip(weights, best.tolist()))
    ours = kd_term(LinearChainCRF(t_pot), MaxEnt(s_pot), "topk", k=k)
    assert torch.allclose(ours[0], expected)


@pytest.mark.parametrize("padded", [False, True])
def test_topk_targets_of_a_sentence_with_fewer_than_k_outputs_are_its_real_outputs(padded):
    """A one-token BIO sentence has 3 outputs (O, B-X, B-Y: I- cannot start): a 5-best list of it holds those 3,
    weighted by their renormalised probabilities, and nothing else, alone and beside a longer sentence."""
    tags = TAGS["BIO"]
    start, transitions, end = constraint_scores(tags)
    emissions = torch.randn(2, 4, len(tags), dtype=DT)
    lengths = torch.tensor([1, 4]) if padded else torch.tensor([1])
    teacher = LinearChainCRF.from_emissions(emissions[: len(lengths), : 4 if padded else 1], transitions.to(DT),
                                            lengths, start.to(DT), end.to(DT), labels=tags)
    student = MaxEnt(torch.randn(len(lengths), 4 if padded else 1, len(tags), dtype=DT), lengths, labels=tags)
    outputs, weights = teacher_topk(teacher, student, 5)
    real = weights[:, 0] > 0
    assert sorted(outputs[real, 0, 0].tolist()) == [0, 1, 3]
    first = emissions[0, 0] + start.to(DT) + end.to(DT)  # the three outputs' scores; the others are -inf
    expected = first[[0, 1, 3]].softmax(0)
    assert torch.allclose(weights[real, 0].sort().values, expected.sort().values)
    # the student's loss counts each real output once: -sum_y p_t(y) log p_s(y) over the 3
    log_p_s = student.log_potentials[0, 0].log_softmax(-1)
    expected_loss = -(first[[0, 1, 3]].softmax(0) * log_p_s[[0, 1, 3]]).sum()
    assert torch.allclose(kd_term(teacher, student, "topk", k=5)[0], expected_loss)


def test_tree_token_kd_uses_per_word_head_softmaxes_of_both():
    t_pot, s_pot = torch.randn(1, N + 1, N + 1, dtype=DT), torch.randn(1, N + 1, N + 1, dtype=DT)
    teacher = NonProjectiveDependencyCRF(t_pot, torch.tensor([N]))
    student = ProjectiveDependencyCRF(s_pot, torch.tensor([N]))
    expected = kd_term(HeadSelection(t_pot, torch.tensor([N])), HeadSelection(s_pot, torch.tensor([N])))
    assert torch.allclose(kd_term(teacher, student, "token"), expected)


def test_token_kd_from_a_span_teacher_uses_its_exact_tag_marginals():
    case = CASES["4 span->maxent BIO"](N)
    student = case.make_student(torch.randn(case.student_shape, dtype=DT))
    assert torch.allclose(kd_term(case.teacher, student, "token"), kd_term(case.teacher, student, "structural"))


# ----------------------------------------------------------------------------- interpolation, batches, errors
def test_lambda_interpolates_with_gold_and_skips_gold_for_transfer_sentences():
    t_pot, s_pot = torch.randn(2, N, 3, 3, dtype=DT), torch.randn(2, N, 3, dtype=DT)
    teacher, student = LinearChainCRF(t_pot), MaxEnt(s_pot)
    gold = torch.tensor([[0, 1, 2], [2, 2, 1]])
    kd = kd_term(teacher, student)
    gold_nll = -s_pot.log_softmax(-1).gather(-1, gold.unsqueeze(-1)).squeeze(-1).sum(-1)
    mixed = kd_loss(teacher, student, lam=0.3, gold=gold)
    assert torch.allclose(mixed, 0.3 * kd + 0.7 * gold_nll)
    partial = kd_loss(teacher, student, lam=0.3, gold=gold, has_gold=torch.tensor([True, False]))
    assert torch.allclose(partial, torch.stack([mixed[0], kd[1]]))
    assert torch.allclose(kd_loss(teacher, student, lam=0.0, gold=gold), gold_nll)
    assert annealed_lambda(0.0) == 1.0 and annealed_lambda(0.5, 1.0) == 0.5 and annealed_lambda(0.9, 2.0) == 0.0


#: the dimensions of each family's potentials that run over positions of the sentence.
LENGTH_DIMS = {LinearChainCRF: (1,), MaxEnt: (1,), SpanSegmentation: (1, 2), HeadSelection: (1, 2),
               ProjectiveDependencyCRF: (1, 2), NonProjectiveDependencyCRF: (1, 2)}


def in_longer_batch(dist, extra=2):
    """``dist``'s sentence at index 0 of a batch of 2 whose second sentence is ``extra`` positions longer."""
    pot = dist.log_potentials
    dims = LENGTH_DIMS[type(dist)]
    shape = [2] + [d + extra if i in dims else d for i, d in enumerate(pot.shape) if i > 0]
    padded = torch.randn(shape, dtype=pot.dtype)
    padded[(0,) + tuple(slice(0, d) for d in pot.shape[1:])] = pot[0]
    out = dist.with_potentials(padded)
    out.lengths = torch.cat([dist.lengths, dist.lengths + extra])
    if getattr(dist, "emissions", None) is not None:
        out.emissions = torch.cat([dist.emissions, torch.randn(1, extra, dist.emissions.shape[-1], dtype=pot.dtype)], 1)
        out.emissions = torch.cat([out.emissions, torch.randn_like(out.emissions[:1])])
    return out


@pytest.mark.parametrize("name", ["1a chain->chain", "2a chain->maxent", "3 maxent->chain", "1b proj->headsel",
                                  "1b nonproj->proj-multiroot", "4 span->chain BIO", "4 span->maxent BIOES"])
@pytest.mark.parametrize("method", ["structural", "token", "posterior"])
def test_padded_batch_gives_the_single_sentence_values(name, method):
    case = CASES[name](N)
    student = case.make_student(torch.randn(case.student_shape, dtype=DT))
    if method == "token" and isinstance(student, LinearChainCRF):
        student = LinearChainCRF.from_emissions(torch.randn(1, N, student.num_labels, dtype=DT),
                                                torch.randn(student.num_labels, student.num_labels, dtype=DT),
                                                labels=student.labels)
    teacher = case.teacher
    if method == "token" and isinstance(teacher, LinearChainCRF):  # token KD reads the teacher's emissions
        teacher = LinearChainCRF.from_emissions(torch.randn(1, N, teacher.num_labels, dtype=DT),
                                                torch.randn(teacher.num_labels, teacher.num_labels, dtype=DT),
                                                labels=teacher.labels)
    single = kd_term(teacher, student, method)
    batch = kd_term(in_longer_batch(teacher), in_longer_batch(student), method)
    assert torch.allclose(batch[0], single[0], atol=1e-8)


def test_mismatched_pairs_raise_clear_errors():
    chain = LinearChainCRF(torch.randn(1, N, 3, 3), labels=["O", "B-X", "I-X"])
    with pytest.raises(ProjectionError, match="no projection from LinearChainCRF to HeadSelection"):
        kd_term(chain, HeadSelection(torch.randn(1, N + 1, N + 1)))
    with pytest.raises(ProjectionError, match="lengths differ"):
        kd_term(chain, MaxEnt(torch.randn(1, N, 3), torch.tensor([2])))
    with pytest.raises(ProjectionError, match="label sets differ"):
        kd_term(chain, MaxEnt(torch.randn(1, N, 3), labels=["O", "B-Y", "I-Y"]))
    with pytest.raises(ProjectionError, match="teacher has 3 labels, student has 4"):
        kd_term(chain, MaxEnt(torch.randn(1, N, 4)))
    with pytest.raises(ProjectionError, match="Top-K KD"):
        kd_term(NonProjectiveDependencyCRF(torch.randn(1, N + 1, N + 1)), HeadSelection(torch.randn(1, N + 1, N + 1)),
                "topk")
    spans = SpanSegmentation(torch.randn(1, N, N, 2), labels=TYPES)
    with pytest.raises(ValueError, match="B-Z"):
        kd_term(spans, MaxEnt(torch.randn(1, N, 3), labels=["O", "B-Z", "I-Z"]))
    with pytest.raises(ValueError, match="unknown KD method"):
        kd_term(chain, chain, "nonsense")


@pytest.mark.parametrize("method", ["structural", "token", "posterior"])
@pytest.mark.parametrize("mode", ["local", "global"])
def test_cached_teacher_marginals_give_the_same_loss(method, mode):
    """Training caches project(teacher, student) once; the loss from the cache equals kd_term."""
    teacher = LinearChainCRF.from_emissions(torch.randn(2, N, 3, dtype=DT), torch.randn(3, 3, dtype=DT))
    student = LinearChainCRF.from_emissions(torch.randn(2, N, 3, dtype=DT), torch.randn(3, 3, dtype=DT))
    temp = 1.7
    cached = kd_targets(teacher.tempered(temp if mode == "global" else 1.0), student, method)
    local = temp if mode == "local" else 1.0
    assert torch.allclose(kd_from_marginals(cached, student, method, temp, local),
                          kd_term(teacher, student, method, temp, mode))


def test_maxent_teacher_is_conditioned_on_a_constrained_student():
    """Scenario 3 into a BIO-constrained CRF: the teacher's independent labels put mass on sequences the
    student forbids (O -> I-X); the projection conditions the teacher on the allowed ones, so L_KD is the
    (finite) cross-entropy of p_t(y | y allowed) with the student, by enumeration."""
    from structkd import constraint_scores

    tags = ["O", "B-X", "I-X"]
    start, trans, end = constraint_scores(tags, DT)
    t_pot = torch.randn(1, N, 3, dtype=DT)
    pot = torch.randn(1, N, 3, dtype=DT, requires_grad=True)
    student = LinearChainCRF.from_emissions(pot, trans, None, start, end, labels=tags)
    ours = kd_term(MaxEnt(t_pot, labels=tags), student)
    all_seqs = brute.label_sequences(N, 3)
    s_log_z, _, _, s_scores = brute.distribution(student.log_potentials[0], [brute.chain_parts(y, N, 3) for y in all_seqs])
    allowed = torch.isfinite(s_scores)
    seqs = [y for y, ok in zip(all_seqs, allowed) if ok]
    _, probs, _, _ = brute.distribution(t_pot[0], [brute.token_parts(y, N, 3) for y in seqs])  # conditioned
    scores = s_scores[allowed]
    expected = -(probs * (scores - s_log_z)).sum()
    assert len(seqs) < 3**N and torch.isfinite(ours).all()
    assert torch.allclose(ours[0], expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), pot, retain_graph=True)
    assert torch.allclose(g_ours, torch.autograd.grad(expected, pot)[0])
