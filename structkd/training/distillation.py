"""Distillation from cached teacher targets, for any model whose task follows :class:`GoldTask`.

The teacher runs once over the training (and transfer) sentences (:func:`teacher_targets`): its marginals
over the student's substructures, or for Top-K KD its K best outputs, are kept per sentence, so the
teacher never runs during training.  :class:`DistillationTask` then trains the student on

    L = lam * L_KD + (1 - lam) * L_gold      (transfer sentences, without gold: L = L_KD)

with ``lam`` fixed or annealed (``lam = max(0, 1 - progress * anneal)``).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..objectives import annealed_lambda, kd_from_marginals, kd_targets, teacher_topk, topk_cross_entropy


class GoldTask(Protocol):
    """What distillation needs from a model's gold-training task."""

    model: torch.nn.Module

    def words(self, sentence) -> list[str]:
        """The tokens of a sentence."""

    def has_gold(self, sentence) -> bool:
        """Whether the sentence carries gold annotation (transfer sentences do not)."""

    def forward(self, words: Sequence[Sequence[str]]) -> tuple:
        """``(factorization, extra)`` of a batch: the student's distribution, and whatever else
        :meth:`gold_nll` needs from the same forward pass (e.g. a parser's label scores)."""

    def gold_nll(self, dist, extra, sentences: Sequence, rows: torch.Tensor) -> torch.Tensor:
        """``(G,)`` the gold loss of ``sentences``, the rows ``rows`` (bool ``(B,)``) of the batch."""

    def evaluate(self, sentences: Sequence) -> dict: ...

    def save(self, folder: Path) -> None: ...


class Indexed(NamedTuple):
    """A training sentence with its position in the cached teacher targets."""

    index: int
    sentence: object


@torch.no_grad()
def teacher_targets(teacher, student, words: Sequence[Sequence[str]], method: str = "structural", k: int = 5,
                    batch_size: int = 32, global_temperature: float = 1.0, show_progress: bool = True) -> list:
    """What distillation needs from the teacher, computed once: one entry per sentence of ``words``.

    For "topk", the teacher's ``k`` best outputs in compact form ``(K, n)`` and their renormalised
    probabilities ``(K,)`` (:func:`structkd.objectives.teacher_topk`); otherwise the targets of
    :func:`structkd.objectives.kd_targets` (the teacher's marginals over the student's substructures, or
    for "token" its local per-position distributions), one sentence's rows and columns each.  ``teacher`` and
    ``student`` are models with ``factorization(words)``; both run in eval mode, the teacher with its potentials
    divided by ``global_temperature``, over batches of sentences of similar length (less padding); the
    entries come back in the order of ``words``.
    """
    teacher.eval()
    was_training = student.training
    student.eval()
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    out: list = [None] * len(words)
    for start in tqdm(range(0, len(words), batch_size), desc="teacher", unit="batch", disable=not show_progress,
                      leave=False):
        rows = order[start : start + batch_size]
        batch = [words[i] for i in rows]
        t_dist = teacher.factorization(batch).tempered(global_temperature)
        s_dist = student.factorization(batch)  # only its type, labels and lengths matter here
        if method == "topk":
            outputs, weights = teacher_topk(t_dist, s_dist, k)  # (K, B, N[+1]), (K, B)
            targets = [(y[:, : len(w) + s_dist.root_positions].cpu().clone(), p.float().cpu().clone())
                       for y, p, w in zip(outputs.unbind(1), weights.unbind(1), batch)]
        else:
            marginals = kd_targets(t_dist, s_dist, method).float()
            targets = [m[s_dist.sentence_slice(len(w))].cpu().clone() for m, w in zip(marginals, batch)]
        for i, target in zip(rows, targets):
            out[i] = target
    student.train(was_training)
    return out


def pad_stack(targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack per-sentence targets, zero-padding every dimension to the largest in the batch (which is the
    batch's padded sentence size along the sentence dimensions)."""
    shape = [max(sizes) for sizes in zip(*(t.shape for t in targets))]
    return torch.stack([F.pad(t, [p for size, full in zip(reversed(t.shape), reversed(shape)) for p in (0, full - size)])
                        for t in targets])


class DistillationTask:
    """KD of a student from cached teacher targets (see the module docstring), around its gold task.

    Training examples are :class:`Indexed` sentences; ``targets[i]`` belongs to the example of index ``i``.

    Args:
        base: the student's gold task (:class:`GoldTask`): tokens, forward pass, gold loss, evaluation.
        targets: one entry per training example, from :func:`teacher_targets`.
        method: "structural", "token", "posterior" or "topk" (see :mod:`structkd.objectives`).
        lam, anneal: the KD weight; with ``anneal`` the weight is ``max(0, 1 - progress * anneal)``.
        temperature, local_temperature: as in :func:`structkd.kd_from_marginals`.
    """

    def __init__(self, base: GoldTask, targets: list, method: str = "structural", lam: float = 1.0,
                 anneal: float | None = None, temperature: float = 1.0, local_temperature: float = 1.0):
        self.base, self.model = base, base.model
        self.targets, self.method = targets, method
        self.lam, self.anneal = lam, anneal
        self.temperature, self.local_temperature = temperature, local_temperature

    def loss(self, examples: Sequence[Indexed], progress: float) -> torch.Tensor:
        batch = [e.sentence for e in examples]
        dist, extra = self.base.forward([self.base.words(s) for s in batch])
        kd = self._kd([self.targets[e.index] for e in examples], dist)
        lam = annealed_lambda(progress, self.anneal) if self.anneal is not None else self.lam
        rows = torch.tensor([self.base.has_gold(s) for s in batch], device=kd.device)
        if lam == 1 or not rows.any():
            return kd.mean()
        gold = torch.zeros_like(kd)
        gold[rows] = self.base.gold_nll(dist, extra, [s for s in batch if self.base.has_gold(s)], rows)
        return torch.where(rows, lam * kd + (1 - lam) * gold, kd).mean()

    def _kd(self, targets: list, dist) -> torch.Tensor:
        """``(B,)`` L_KD of the batch from its cached targets."""
        potentials = dist.log_potentials
        if self.method != "topk":
            marginals = pad_stack(targets).to(potentials)
            return kd_from_marginals(marginals, dist, self.method, self.temperature, self.local_temperature)
        outputs = pad_stack([y for y, _ in targets]).transpose(0, 1).to(potentials.device)  # (K, B, N)
        weights = torch.stack([w for _, w in targets], 1).to(potentials)  # (K, B)
        return topk_cross_entropy(outputs, weights, dist.tempered(self.temperature)) * self.temperature**2

    def evaluate(self, sentences: Sequence) -> dict:
        return self.base.evaluate(sentences)

    def save(self, folder: Path) -> None:
        self.base.save(folder)
