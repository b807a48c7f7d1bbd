"""Relation-label KD of parsers: the relation term against the cross-entropy of labelled trees by enumeration,
the teacher's cached relation targets, and the distillation loss that uses them."""
import itertools

import pytest
import torch

import brute
from structkd import NonProjectiveDependencyCRF, kd_from_marginals, label_cross_entropy
from structkd.data import TreeSentence
from structkd.training import DistillationTask, Indexed, teacher_targets
from structkd.training.distillation import LABEL_HEADS
from parsers.task import ParsingTask
from test_parser_model import HEADS, RELS, WORDS, tiny_parser

DT = torch.float64


def labelled_tree_cross_entropy(t_arcs, t_rels, s_arcs, s_rels, n):
    """-sum_{y, r} p_t(y, r) log p_s(y, r) over every tree y of n words and every relation labelling r, with
    p(y, r) = p(y) prod_m softmax(rels[m, h_m])[r_m] (arc scores [m, h], relation scores [m, h, r])."""
    trees = brute.trees(n, projective=False, multiroot=False)
    parts = [brute.arc_parts(y, n, DT) for y in trees]
    _, p_t, _, _ = brute.distribution(t_arcs, parts)
    log_z_s, _, _, scores_s = brute.distribution(s_arcs, parts)
    q_t, log_q_s = t_rels.softmax(-1), s_rels.log_softmax(-1)
    total = torch.zeros((), dtype=DT)
    num_rels = t_rels.shape[-1]
    for tree, p, score in zip(trees, p_t, scores_s):
        for labels in itertools.product(range(num_rels), repeat=n):
            p_labels = torch.prod(torch.stack([q_t[m, h, r] for m, (h, r) in enumerate(zip(tree, labels), 1)]))
            log_p_s = score - log_z_s + sum(log_q_s[m, h, r] for m, (h, r) in enumerate(zip(tree, labels), 1))
            total = total - p * p_labels * log_p_s
    return total


@pytest.mark.parametrize("n", [2, 3])
def test_arc_plus_relation_kd_is_the_labelled_tree_cross_entropy_with_gradient(n):
    torch.manual_seed(n)
    t_arcs, s_arcs = torch.randn(n + 1, n + 1, dtype=DT), torch.randn(n + 1, n + 1, dtype=DT, requires_grad=True)
    t_rels = torch.randn(n + 1, n + 1, 2, dtype=DT)
    s_rels = torch.randn(n + 1, n + 1, 2, dtype=DT, requires_grad=True)
    lengths = torch.tensor([n])
    teacher = NonProjectiveDependencyCRF(t_arcs.unsqueeze(0), lengths)
    student = NonProjectiveDependencyCRF(s_arcs.unsqueeze(0), lengths)
    weights = teacher.marginals[:, 1:]  # (1, n, n+1) [m, h]
    ours = kd_from_marginals(teacher.marginals, student)[0] + label_cross_entropy(
        weights, t_rels[1:].softmax(-1).unsqueeze(0), s_rels[1:].unsqueeze(0))[0]
    expected = labelled_tree_cross_entropy(t_arcs, t_rels, s_arcs, s_rels, n)
    torch.testing.assert_close(ours, expected, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(torch.autograd.grad(ours, [s_arcs, s_rels]),
                               torch.autograd.grad(expected, [s_arcs, s_rels]), atol=1e-8, rtol=1e-8)


def test_relation_kd_tempers_the_teacher_per_arc_and_scales_by_t_squared():
    torch.manual_seed(0)
    weights = torch.rand(2, 3, 2, dtype=DT)
    probs = torch.rand(2, 3, 2, 4, dtype=DT).softmax(-1)
    scores = torch.randn(2, 3, 2, 4, dtype=DT)
    t = 2.0
    tempered = (probs.log() / t).softmax(-1)
    expected = -(weights * (tempered * (scores / t).log_softmax(-1)).sum(-1)).flatten(1).sum(-1) * t**2
    torch.testing.assert_close(label_cross_entropy(weights, probs, scores, t, t), expected)


def candidate_scores(parser, scores, b, heads):
    """``(n, K, R)`` relation scores of sentence ``b``'s candidate arcs ``heads`` ``(n, K)`` (words 1..n)."""
    padded = torch.zeros(scores.arcs.shape[0], scores.arcs.shape[1], heads.shape[1], dtype=torch.long)
    padded[b, 1 : len(heads) + 1] = heads
    return parser.candidate_rel_scores(scores, padded)[b, 1 : len(heads) + 1]


def test_a_parser_teacher_passes_on_relation_distributions_of_its_most_probable_heads():
    teacher, student = tiny_parser("nonprojective", 0).eval(), tiny_parser("head-selection", 1).eval()
    targets = teacher_targets(teacher, student, WORDS, show_progress=False)
    with torch.no_grad():
        scores = teacher(WORDS)
        marginals = teacher.distribution(scores).marginals
    for b, (words, (arcs, heads, weights, probs)) in enumerate(zip(WORDS, targets)):
        n, k = len(words), min(LABEL_HEADS, max(map(len, WORDS)) + 1)  # K of the padded batch
        assert arcs.shape == (n + 1, n + 1) and heads.shape == weights.shape == (n, k)
        top = marginals[b, 1 : n + 1].topk(k, -1)  # the k most probable heads (ties at 0 in any order)
        torch.testing.assert_close(weights, top.values.float())
        real = weights > 0  # the others (past the end of a short sentence) point at the root with weight 0
        torch.testing.assert_close(weights[real], marginals[b, 1 : n + 1].gather(-1, heads)[real].float())
        assert (heads <= n).all() and (heads[~real] == 0).all()
        expected = candidate_scores(teacher, scores, b, heads).softmax(-1)
        assert probs.shape == (n, k, len(teacher.rels))
        torch.testing.assert_close(probs, expected.float(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("method", ["structural", "topk"])
def test_distillation_loss_adds_the_relation_term_of_the_cached_targets(method):
    """lam = 1: the loss is the arc KD of the cached arc targets plus, per sentence, the relation term of its
    cached relation targets against the student's relation scores on the same arcs."""
    teacher, student = tiny_parser("projective", 0).eval(), tiny_parser("head-selection", 1).eval()
    targets = teacher_targets(teacher, student, WORDS, method=method, k=2, show_progress=False)
    examples = [Indexed(i, TreeSentence(WORDS[i], HEADS[i], RELS[i], [], "mem", 1)) for i in range(3)]
    loss = DistillationTask(ParsingTask(student), targets, method, lam=1.0).loss(examples, 0.0)
    core = 2 if method == "topk" else 1
    arc_targets = [entry[:core] if core > 1 else entry[0] for entry in targets]
    arcs_only = DistillationTask(ParsingTask(student), arc_targets, method, lam=1.0).loss(examples, 0.0)
    scores = student(WORDS)
    relation_terms = torch.stack([
        label_cross_entropy(weights[None], probs[None], candidate_scores(student, scores, b, heads)[None])[0]
        for b, (heads, weights, probs) in enumerate(entry[core:] for entry in targets)])
    assert (relation_terms > 0).all()
    torch.testing.assert_close(loss, arcs_only + relation_terms.mean(), atol=1e-5, rtol=1e-5)
