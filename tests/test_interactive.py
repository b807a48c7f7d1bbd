"""Interactive distillation: the exam step's teacher gradient against brute-force differentiation of the quiz
loss through the virtual update (every label sequence enumerated, float64), plain distillation at a teacher
learning rate of 0, resumption, the teacher's scope and its folder."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch.func import functional_call

from structkd.data import Sentence
from structkd.encoders import BiLSTMEncoder
from structkd.persistence import load
from structkd.training import DistillationTask, Indexed, TrainConfig, Trainer, teacher_targets
from structkd.training.interactive import TEACHER_FOLDER, InteractiveTask
from taggers.model import Tagger
from taggers.task import TaggingTask

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CORPUS = [["John", "lives", "in", "Paris"], ["Hello", "there"], ["Mary", "met", "John"]]


def sentence(tokens, tags=None):
    return Sentence(tokens=tokens, tags=tags, columns=[[t] for t in tokens], comments=[], path="mem", line=1)


def tagger(head: str, seed: int) -> Tagger:
    torch.manual_seed(seed)
    encoder = BiLSTMEncoder.from_corpus(CORPUS, word_dim=4, char_encoder=None, hidden_size=3, num_layers=1,
                                        dropout=0.0)
    return Tagger(encoder, TAGS, head, dropout=0.0).double().eval()


GOLD = [sentence(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]),
        sentence(["Mary", "met", "John"], ["B-PER", "O", "B-PER"])]
TRANSFER = [sentence(["Hello", "there"])]
QUIZ = [sentence(["Hello", "there"], ["O", "O"]), sentence(["John", "met", "Mary"], ["B-PER", "O", "B-PER"])]


def make_task(teacher, student, lam=0.5, **options) -> InteractiveTask:
    sentences = GOLD + TRANSFER
    targets = teacher_targets(teacher, student, [s.tokens for s in sentences], show_progress=False)
    course = DistillationTask(TaggingTask(student), targets, "structural", lam=lam)
    return InteractiveTask(course, teacher, TaggingTask(teacher), QUIZ, **options)


# ----------------------------------------------------------------------------- brute force
def log_probs(model, params, words):
    """Per sentence, ``(Y,)`` log p(y) over every tag sequence, by enumeration of the model's scores."""
    dist = functional_call(model, params, (words,))
    out = []
    for b, w in enumerate(words):
        n = len(w)
        ys = torch.tensor(list(itertools.product(range(len(TAGS)), repeat=n)))  # (Y, n)
        phi = dist.log_potentials[b, :n]  # (n, C, C)
        prev = torch.cat([torch.zeros(len(ys), 1, dtype=torch.long), ys[:, :-1]], 1)
        scores = phi[torch.arange(n), prev, ys].sum(-1)  # (Y,)
        out.append((ys, scores - torch.logsumexp(scores, 0)))
    return out


def gold_nll(log_p, tags):
    ys, lp = log_p
    target = torch.tensor([TAGS.index(t) for t in tags])
    return -lp[(ys == target).all(-1)].squeeze()


def exam_loss(teacher, student, teacher_params, lam, step):
    """L_quiz(theta_s - step * grad_s L(theta_s, theta_t)) with every term enumerated."""
    batch = GOLD + TRANSFER
    words = [s.tokens for s in batch]
    s_params = {n: p for n, p in student.named_parameters()}
    t_lp, s_lp = log_probs(teacher, teacher_params, words), log_probs(student, s_params, words)
    losses = []
    for sent, (_, lt), (ys, ls) in zip(batch, t_lp, s_lp):
        kd = -(lt.exp() * ls).sum()
        losses.append(kd if sent.tags is None else lam * kd + (1 - lam) * gold_nll((ys, ls), sent.tags))
    course = torch.stack(losses).mean()
    grads = torch.autograd.grad(course, list(s_params.values()), create_graph=True)
    virtual = {n: p - step * g for (n, p), g in zip(s_params.items(), grads)}
    quiz = log_probs(student, virtual, [s.tokens for s in QUIZ])
    return torch.stack([gold_nll(lp, s.tags) for lp, s in zip(quiz, QUIZ)]).mean()


def directional_derivatives(teacher, student, directions, lam, step, h=1e-5):
    names = [n for n, _ in teacher.named_parameters()]
    base = {n: p.detach() for n, p in teacher.named_parameters()}
    out = []
    for d in directions:
        plus = exam_loss(teacher, student, {n: base[n] + h * d[n] for n in names}, lam, step)
        minus = exam_loss(teacher, student, {n: base[n] - h * d[n] for n in names}, lam, step)
        out.append(((plus - minus) / (2 * h)).item())
    return out


@pytest.fixture(scope="module")
def models():
    return tagger("crf", 0), tagger("crf", 1)


@pytest.fixture(scope="module")
def truth(models):
    teacher, student = models
    gen = torch.Generator().manual_seed(3)
    directions = [{n: torch.randn(p.shape, generator=gen, dtype=p.dtype) for n, p in teacher.named_parameters()}
                  for _ in range(3)]
    return directions, directional_derivatives(teacher, student, directions, lam=0.5, step=0.5)


def batch():
    return [Indexed(i, s) for i, s in enumerate(GOLD + TRANSFER)]


def along(gradient, teacher, directions):
    names = [n for n, p in teacher.named_parameters() if p.requires_grad]
    return [sum((g * d[n]).sum() for g, n in zip(gradient, names)).item() for d in directions]


def test_the_exact_exam_gradient_is_the_brute_force_one(models, truth):
    teacher, student = models
    directions, expected = truth
    task = make_task(teacher, student, teacher_lr_scale=1.0, exam="exact", step=0.5, teacher_gold=0.0)
    got = along(task.exam_gradient(batch(), progress=0.0), teacher, directions)
    assert max(abs(e) for e in expected) > 1e-4  # a first-order approximation would give 0
    assert got == pytest.approx(expected, abs=1e-6)


def test_the_finite_difference_exam_converges_as_eps_squared(models, truth):
    teacher, student = models
    directions, expected = truth
    errors = []
    for eps in (0.04, 0.02):
        task = make_task(teacher, student, teacher_lr_scale=1.0, exam="finite-difference", eps=eps, step=0.5,
                         teacher_gold=0.0)
        got = along(task.exam_gradient(batch(), progress=0.0), teacher, directions)
        errors.append(max(abs(a - b) for a, b in zip(got, expected)))
    assert errors[1] < 1e-6
    assert 3.0 < errors[0] / errors[1] < 5.0  # O(eps^2): halving eps quarters the error


def test_the_teacher_keeps_its_gold_loss(models):
    teacher, student = models
    with_gold = make_task(teacher, student, teacher_lr_scale=1.0, step=0.5, teacher_gold=1.0)
    without = make_task(teacher, student, teacher_lr_scale=1.0, step=0.5, teacher_gold=0.0)
    diff = [a - b for a, b in zip(with_gold.exam_gradient(batch(), 0.0), without.exam_gradient(batch(), 0.0))]
    words = [s.tokens for s in GOLD]
    expected = torch.autograd.grad(teacher.gold_loss(words, [s.tags for s in GOLD]), list(teacher.parameters()))
    assert all(torch.allclose(d, e, atol=1e-10) for d, e in zip(diff, expected))


# ----------------------------------------------------------------------------- runs
def train(task, folder, epochs=2, resume=False):
    """Two-sentence batches: two steps an epoch."""
    config = TrainConfig(epochs=epochs, batch_size=2, lr=0.05, patience=5, seed=4)
    data = [Indexed(i, s) for i, s in enumerate(GOLD + TRANSFER)]
    Trainer(task, config, folder, show_progress=False).fit(data, GOLD, resume=resume)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_teacher_learning_rate_of_zero_is_plain_distillation(tmp_path):
    plain_student, ikd_student = tagger("crf", 1), tagger("crf", 1)
    teacher = tagger("crf", 0)
    targets = teacher_targets(teacher, plain_student, [s.tokens for s in GOLD + TRANSFER], show_progress=False)
    train(DistillationTask(TaggingTask(plain_student), targets, "structural", lam=0.5), tmp_path / "plain")
    train(make_task(teacher, ikd_student, teacher_lr_scale=0.0), tmp_path / "ikd")
    a, b = weights(plain_student), weights(ikd_student)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_teacher_learns_and_a_killed_run_resumes_to_the_same_weights(tmp_path):
    teacher = tagger("crf", 0)
    start = weights(teacher)
    whole = make_task(teacher, tagger("crf", 1), teacher_lr_scale=0.5, step=0.5, every=3)  # exams at steps 0, 3
    train(whole, tmp_path / "whole")
    assert any(not torch.equal(start[k], v) for k, v in weights(teacher).items())
    halves = make_task(tagger("crf", 0), tagger("crf", 1), teacher_lr_scale=0.5, step=0.5, every=3)
    train(halves, tmp_path / "halves", epochs=1)
    assert int(halves.model.steps) == 2
    saved = load(tmp_path / "halves" / TEACHER_FOLDER)  # the teacher of the best (here: the only) epoch, in float32
    assert all(torch.allclose(saved.state_dict()[k].double(), v, atol=1e-6) for k, v in weights(halves.teacher).items())
    resumed = make_task(tagger("crf", 0), tagger("crf", 1), teacher_lr_scale=0.5, step=0.5, every=3)
    train(resumed, tmp_path / "halves", epochs=2, resume=True)
    for trained, again in ((whole.model, resumed.model),):
        a, b = weights(trained), weights(again)
        assert all(torch.allclose(a[k], b[k], atol=1e-12) for k in a)


def test_head_scope_trains_the_scorer_only_from_cached_encoder_states(tmp_path):
    teacher = tagger("crf", 0)
    start = weights(teacher)
    task = make_task(teacher, tagger("crf", 1), teacher_lr_scale=0.5, step=0.5, scope="head")
    train(task, tmp_path / "head")
    changed = {k for k, v in weights(teacher).items() if not torch.equal(start[k], v)}
    assert changed and all(not k.startswith("encoder.") for k in changed)


def test_bad_options_are_refused(models):
    teacher, student = models
    with pytest.raises(ValueError, match="exam"):
        make_task(teacher, student, teacher_lr_scale=1.0, exam="first-order")
    with pytest.raises(ValueError, match="scope"):
        make_task(teacher, student, teacher_lr_scale=1.0, scope="encoder")
