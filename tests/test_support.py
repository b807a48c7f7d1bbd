"""Teacher/student pairs of different supports: a tree student of a teacher that puts mass on outputs the student
cannot produce learns from the teacher conditioned on the student's trees, checked against enumeration; pair
mismatches of span teachers are ProjectionErrors."""
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
import torch  # noqa: E402
from brute import arc_parts, distribution, trees  # noqa: E402

from structkd import (  # noqa: E402
    HeadSelection, LinearChainCRF, MaxEnt, NonProjectiveDependencyCRF, ProjectiveDependencyCRF, SpanSegmentation,
    kd_loss, project,
)
from structkd.projections import ProjectionError, supports_contain  # noqa: E402


def all_head_vectors(n: int) -> list[list[int]]:
    """Every head vector over ``n`` words (a head per word, none its own), trees or not: a head selection's support."""
    return [list(h) for h in itertools.product(range(n + 1), repeat=n) if all(h[m] != m + 1 for m in range(n))]


def support(dist, n: int) -> list[list[int]]:
    if isinstance(dist, HeadSelection):
        return all_head_vectors(n)
    return trees(n, isinstance(dist, ProjectiveDependencyCRF), dist.multiroot)


def make(kind: str, scores: torch.Tensor, lengths: torch.Tensor):
    if kind == "head-selection":
        return HeadSelection(scores, lengths)
    cls = ProjectiveDependencyCRF if kind.startswith("projective") else NonProjectiveDependencyCRF
    return cls(scores, lengths, multiroot=kind.endswith("multiroot"))


KINDS = ["head-selection", "nonprojective-multiroot", "nonprojective", "projective-multiroot", "projective"]


@pytest.mark.parametrize("teacher_kind,student_kind", [(t, s) for t in KINDS for s in KINDS[1:]])
@pytest.mark.parametrize("n", [1, 3, 4])
def test_the_teacher_is_conditioned_on_the_student_support_exactly(teacher_kind, student_kind, n):
    torch.manual_seed(n)
    scores = torch.randn(1, n + 1, n + 1, dtype=torch.float64) * 2
    student_scores = torch.randn(1, n + 1, n + 1, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([n])
    teacher, student = make(teacher_kind, scores, lengths), make(student_kind, student_scores, lengths)
    allowed = [h for h in support(teacher, n) if h in support(student, n)]
    _, probs, expected, _ = distribution(scores[0], [arc_parts(h, n) for h in allowed])  # p_t(y | y allowed)
    got = project(teacher, student)
    assert torch.allclose(got[0], expected, atol=1e-10)
    # the KD term is the exact cross-entropy with the conditioned teacher: -sum_y p_t(y | S) log p_s(y)
    log_z = distribution(student_scores[0].detach(), [arc_parts(h, n) for h in support(student, n)])[0]
    student_scores_y = distribution(student_scores[0].detach(), [arc_parts(h, n) for h in allowed])[3]
    exact = -(probs * (student_scores_y - log_z)).sum()
    loss = kd_loss(teacher, student)
    assert torch.allclose(loss[0], exact, atol=1e-8)
    loss.sum().backward()
    assert torch.isfinite(student_scores.grad).all()
    if supports_contain(student, teacher):  # the same support: the teacher's own marginals
        assert torch.allclose(got, teacher.marginals, atol=1e-10)


def test_padded_batches_condition_each_sentence_alone():
    torch.manual_seed(5)
    scores = torch.randn(2, 5, 5, dtype=torch.float64)
    lengths = torch.tensor([4, 2])
    got = project(HeadSelection(scores, lengths), ProjectiveDependencyCRF(torch.zeros_like(scores), lengths))
    for b, n in enumerate(lengths.tolist()):
        single = project(HeadSelection(scores[b:b + 1, :n + 1, :n + 1], lengths[b:b + 1]),
                         ProjectiveDependencyCRF(torch.zeros(1, n + 1, n + 1, dtype=torch.float64), lengths[b:b + 1]))
        assert torch.allclose(got[b, :n + 1, :n + 1], single[0], atol=1e-10)
        assert got[b, n + 1:].abs().sum() == 0


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def span_teacher(n: int, types=("PER", "LOC")) -> SpanSegmentation:
    return SpanSegmentation(torch.randn(1, n, n, len(types), dtype=torch.float64), torch.tensor([n]), labels=list(types))


@pytest.mark.parametrize("student_class", [MaxEnt, LinearChainCRF])
def test_span_teacher_mismatches_are_projection_errors(student_class):
    shape = (1, 4, len(TAGS)) if student_class is MaxEnt else (1, 4, len(TAGS), len(TAGS))
    padded = student_class(torch.zeros(*shape, dtype=torch.float64), torch.tensor([3]), labels=TAGS)
    with pytest.raises(ProjectionError, match="padded to different lengths: 3 vs 4"):
        project(SpanSegmentation(torch.randn(1, 3, 3, 2, dtype=torch.float64), torch.tensor([3]),
                                 labels=["PER", "LOC"]), padded)
    other_types = student_class(torch.zeros(*shape, dtype=torch.float64), torch.tensor([4]),
                                labels=["O", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])
    with pytest.raises(ProjectionError, match="do not fit the span teacher's entity types"):
        project(span_teacher(4), other_types)
