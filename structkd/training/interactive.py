"""Interactive distillation (IKD: Liu, Sun, Qiu and Huang 2021, "Learning to Teach with Student Feedback"): a
teacher that learns to teach, for any teacher/student pair the KD objectives support.

Each training step is an optional *exam* step (every ``every`` steps) and then the usual *course* step:

* course: the student's loss ``L = lam * L_KD(theta_s, theta_t) + (1 - lam) * L_gold(theta_s)`` from the current
  teacher's targets (computed live: a changing teacher's targets cannot be cached), exactly as
  :class:`~structkd.training.DistillationTask` computes it;
* exam: a virtual SGD step of the student, ``theta_s' = theta_s - eta grad_s L(theta_s, theta_t)``, the student's
  gold loss on a quiz batch of training sentences at ``theta_s'``, and the teacher's gradient of that quiz loss
  through the virtual step,

      grad_t L_quiz(theta_s') = -eta grad_t <grad_s L(theta_s, theta_t), g'>,    g' = grad L_quiz(theta_s'),

  exact (``exam="exact"``: double backward through the virtual step) or by the central difference
  ``-eta [grad_t L(theta_s + e g') - grad_t L(theta_s - e g')] / 2e`` with ``e = eps / |g'|``
  (``"finite-difference"``: first-order only, error O(e^2)).  A first-order approximation of the virtual step
  would give the teacher a zero gradient.  The teacher also keeps its own gold loss (weight ``teacher_gold``) and
  optionally the cross-entropy from its starting distribution (weight ``drift``), so that it cannot collapse
  into targets that are merely easy; its update (AdamW, the run's schedule times ``teacher_lr_scale``, gradient
  norm clipped) is applied at the step's optimizer step.

The exam runs student and teacher without dropout (so that the finite difference compares like with like), and
the teacher stays in eval mode throughout.  ``scope="head"`` adapts the teacher's parameters outside its
``encoder`` only: the encoder's states are then computed once per sentence and kept
(:func:`cache_encoder_states`), so a step recomputes only the teacher's scorer and its inference.

With ``teacher_lr_scale == 0`` the teacher never changes: no exam runs and the course reads the cached targets of
the wrapped :class:`~structkd.training.DistillationTask` -- plain distillation, step for step.  Otherwise no
cached target is ever read (the CLI computes none).  The teacher's weights and its optimizer state are part of every checkpoint (the
task's ``model`` holds student and teacher), and :meth:`InteractiveTask.save` writes the teacher beside the
student's folder (``teacher/``): the teacher as it was when the best student was saved.

The exam's course loss covers the KD objective over arcs or labels; a parser's relation-label KD term enters the
course step only.
"""
from __future__ import annotations

import copy
import random
import types
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call

from ..objectives import kd_term
from ..persistence import save
from .distillation import DistillationTask, GoldTask, Indexed, teacher_targets

EXAMS = ("exact", "finite-difference")
SCOPES = ("all", "head")
#: where :meth:`InteractiveTask.save` writes the teacher, beside the student's folder
TEACHER_FOLDER = "teacher"


class StudentAndTeacher(nn.Module):
    """The two models trained together, and the count of training steps taken (what a checkpoint of an
    interactive run holds: a resumed run keeps the exam schedule)."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))


class _Forward(nn.Module):
    """``base.forward(words)`` as a module over the student, for :func:`torch.func.functional_call`."""

    def __init__(self, base: GoldTask):
        super().__init__()
        self.model, self.base = base.model, base

    def forward(self, words):
        return self.base.forward(words)


def cache_encoder_states(model: nn.Module) -> dict:
    """Make ``model.encoder(words)`` answer from a per-sentence cache of its (detached) states: ``(B, N, H)``
    vectors zero-padded to the batch's longest sentence, and ``(B,)`` lengths.  The encoder must be frozen (its
    parameters are not trained while the cache lives).  Returns the cache (sentence -> ``(n, H)`` states)."""
    encoder, cache = model.encoder, {}
    compute = encoder.forward

    def cached(self, words):
        missing = list(dict.fromkeys(tuple(w) for w in words if tuple(w) not in cache))
        if missing:
            with torch.no_grad():
                vectors, lengths = compute([list(w) for w in missing])
            for w, v, n in zip(missing, vectors, lengths.tolist()):
                cache[w] = v[:n].detach()
        states = [cache[tuple(w)] for w in words]
        lengths = torch.tensor([len(s) for s in states], device=states[0].device)
        return nn.utils.rnn.pad_sequence(states, batch_first=True), lengths

    encoder.forward = types.MethodType(cached, encoder)
    return cache


class InteractiveTask:
    """IKD around a distillation task (see the module docstring).

    Args:
        course: the plain :class:`DistillationTask` of the run (objective, lam, temperatures, cached targets).
        teacher: the teacher model (``factorization(words)``); ``teacher_task`` its gold task.
        quiz: the gold training sentences the quiz batches are drawn from (never dev or test).
        teacher_lr_scale: the teacher's learning rate over the student's (0: plain distillation).
        exam: "exact" or "finite-difference"; ``eps`` the difference's step (over |g'|).
        scope: "all" (every teacher parameter) or "head" (outside its encoder; encoder states cached).
        every: an exam every ``every`` steps.
        step: ``eta``, the virtual SGD step of the student.
        teacher_gold, drift: weights of the teacher's gold loss and of its cross-entropy from its start.
        clip: the teacher gradient's norm limit.
    """

    def __init__(self, course: DistillationTask, teacher: nn.Module, teacher_task: GoldTask, quiz: Sequence,
                 teacher_lr_scale: float, exam: str = "exact", eps: float = 0.01, scope: str = "all",
                 every: int = 1, step: float = 0.1, teacher_gold: float = 1.0, drift: float = 0.0,
                 clip: float = 5.0):
        if exam not in EXAMS:
            raise ValueError(f"unknown exam {exam!r}; choose from {EXAMS}")
        if scope not in SCOPES:
            raise ValueError(f"unknown teacher scope {scope!r}; choose from {SCOPES}")
        if not quiz:
            raise ValueError("interactive distillation needs gold training sentences for its quiz batches")
        self.course, self.base, self.teacher, self.teacher_task = course, course.base, teacher, teacher_task
        self.quiz, self.lr_scale, self.exam, self.eps = list(quiz), teacher_lr_scale, exam, eps
        self.scope, self.every, self.step, self.teacher_gold, self.drift, self.clip = (
            scope, every, step, teacher_gold, drift, clip)
        self.model = StudentAndTeacher(course.model, teacher)
        self.start = copy.deepcopy(teacher).eval() if drift else None
        if scope == "head":
            for name, p in teacher.named_parameters():
                p.requires_grad_(not name.startswith("encoder."))
            cache_encoder_states(teacher)
            if self.start is not None:
                cache_encoder_states(self.start)
        self.teacher_params = [p for p in teacher.parameters() if p.requires_grad]
        self._forward = _Forward(self.base)
        self._gradient: list[torch.Tensor] | None = None

    # ------------------------------------------------------------------ Trainer protocol
    def parameter_groups(self) -> list[dict]:
        student = [p for p in self.course.model.parameters() if p.requires_grad]
        return [{"params": student}, {"params": self.teacher_params, "lr_scale": self.lr_scale}]

    def loss(self, examples: Sequence[Indexed], progress: float) -> torch.Tensor:
        self.teacher.eval()
        if self.lr_scale == 0:
            return self.course.loss(examples, progress)
        if int(self.model.steps) % self.every == 0:
            self._gradient = self.exam_gradient(examples, progress)
        self.model.steps += 1
        words = [self.base.words(e.sentence) for e in examples]
        c = self.course
        global_temperature = c.temperature if c.local_temperature == 1 else 1.0
        live = teacher_targets(self.teacher, c.model, words, c.method, batch_size=len(words),
                               global_temperature=global_temperature, show_progress=False)
        current = copy.copy(self.course)
        current.targets = {e.index: t for e, t in zip(examples, live)}
        return current.loss(examples, progress)

    def before_step(self, optimizer, step: int) -> None:
        """Hand the exam's teacher gradient (if this step had an exam) to the optimizer's teacher group."""
        gradient, self._gradient = self._gradient, None
        for p, g in zip(self.teacher_params, gradient or [None] * len(self.teacher_params)):
            p.grad = g
        if gradient is not None:
            nn.utils.clip_grad_norm_(self.teacher_params, self.clip)

    def evaluate(self, sentences: Sequence) -> dict:
        return self.course.evaluate(sentences)

    def shipped(self) -> nn.Module:
        """The model the run ships: the student."""
        return self.course.model

    def save(self, folder: Path) -> None:
        """The student into ``folder``, the teacher beside it (``folder/../teacher``)."""
        self.course.save(folder)
        save(self.teacher, Path(folder).parent / TEACHER_FOLDER)

    # ------------------------------------------------------------------ the exam
    def exam_gradient(self, examples: Sequence[Indexed], progress: float) -> list[torch.Tensor]:
        """The teacher's gradient of one exam (see the module docstring): through the virtual step, plus its own
        gold loss and drift penalty, one tensor per teacher parameter in scope."""
        student = self.course.model
        was_training = student.training
        student.eval()
        try:
            batch = [e.sentence for e in examples]
            words = [self.base.words(s) for s in batch]
            quiz = random.sample(self.quiz, min(len(batch), len(self.quiz)))
            lam = self.course.lam_at(progress)
            t_dist, t_extra = self.teacher_task.forward(words)
            own = self.teacher_loss(t_dist, t_extra, words, batch)
            mine = (_grads(own, self.teacher_params, retain_graph=True) if own is not None
                    else [torch.zeros_like(p) for p in self.teacher_params])
            params = {n: p for n, p in student.named_parameters() if p.requires_grad}
            through = self.through_virtual_step(params, t_dist, words, batch, quiz, lam)
            return [a + b for a, b in zip(through, mine)]
        finally:
            student.train(was_training)

    def through_virtual_step(self, params: dict, t_dist, words, batch, quiz, lam: float) -> list[torch.Tensor]:
        """``grad_t L_quiz(theta_s - eta grad_s L(theta_s, theta_t))``, exact or by the central difference."""
        names, values = list(params), list(params.values())
        course = self.course_loss(dict(zip(names, values)), t_dist, words, batch, lam)
        if self.exam == "exact":
            g = torch.autograd.grad(course, values, create_graph=True, allow_unused=True)
            virtual = {n: v - self.step * gi if gi is not None else v for n, v, gi in zip(names, values, g)}
            return _grads(self.quiz_loss(virtual, quiz), self.teacher_params)
        g = torch.autograd.grad(course, values, retain_graph=True, allow_unused=True)
        virtual = {n: (v - self.step * gi if gi is not None else v).detach().requires_grad_()
                   for n, v, gi in zip(names, values, g)}
        g_quiz = torch.autograd.grad(self.quiz_loss(virtual, quiz), list(virtual.values()), allow_unused=True)
        g_quiz = [torch.zeros_like(v) if gq is None else gq for v, gq in zip(values, g_quiz)]
        norm = torch.sqrt(sum((gq.double() ** 2).sum() for gq in g_quiz)).item()
        if norm == 0:
            return [torch.zeros_like(p) for p in self.teacher_params]
        e = self.eps / norm
        sides = []
        for sign in (1, -1):
            shifted = {n: (v + sign * e * gq).detach() for n, v, gq in zip(names, values, g_quiz)}
            sides.append(_grads(self.course_loss(shifted, t_dist, words, batch, lam), self.teacher_params,
                                retain_graph=True))
        return [-self.step * (plus - minus) / (2 * e) for plus, minus in zip(*sides)]

    def course_loss(self, params: dict, t_dist, words, batch, lam: float) -> torch.Tensor:
        """The course loss at the student parameters ``params`` against the (differentiable) teacher ``t_dist``."""
        dist, extra = functional_call(self._forward, {f"model.{n}": p for n, p in params.items()}, (words,))
        c = self.course
        kd = kd_term(t_dist, dist, c.method, c.temperature, "local" if c.local_temperature != 1 else "global",
                     beta=c.beta)
        return c.mixed_loss(kd, dist, extra, batch, lam)

    def quiz_loss(self, params: dict, quiz: Sequence) -> torch.Tensor:
        """The student's mean gold loss on the ``quiz`` sentences at the parameters ``params``."""
        dist, extra = functional_call(self._forward, {f"model.{n}": p for n, p in params.items()},
                                      ([self.base.words(s) for s in quiz],))
        rows = torch.ones(len(quiz), dtype=torch.bool, device=dist.log_potentials.device)
        return self.base.gold_nll(dist, extra, list(quiz), rows).mean()

    def teacher_loss(self, t_dist, t_extra, words, batch) -> torch.Tensor | None:
        """``teacher_gold * L_gold(teacher) + drift * CE(p_start, p_teacher)`` on the batch (None when both are 0)."""
        terms = []
        labelled = [s for s in batch if self.teacher_task.has_gold(s)]
        if self.teacher_gold and labelled:
            rows = torch.tensor([self.teacher_task.has_gold(s) for s in batch], device=t_dist.lengths.device)
            terms.append(self.teacher_gold * self.teacher_task.gold_nll(t_dist, t_extra, labelled, rows).mean())
        if self.drift:
            with torch.no_grad():
                start = self.start.factorization(words)
            terms.append(self.drift * kd_term(start, t_dist).mean())
        return sum(terms) if terms else None


def _grads(loss: torch.Tensor, params: list[torch.Tensor], retain_graph: bool = False) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
