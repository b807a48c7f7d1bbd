"""NER training and distillation tasks for :class:`structkd.training.Trainer`.

:class:`TaggingTask` trains a tagger on gold tags; :class:`DistillationTask` adds the KD term against a
teacher whose marginals over the student's substructures (or, for Top-K KD, whose K best outputs) were
computed once beforehand (:func:`teacher_targets`), so the teacher never runs during training:

    L = lam * L_KD + (1 - lam) * L_gold      (transfer sentences, without gold: L = L_KD)

with ``lam`` fixed or annealed (``lam = max(0, 1 - progress * anneal)``).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from tqdm.auto import tqdm

from structkd import annealed_lambda, kd_from_marginals, project
from structkd.data import Sentence
from structkd.metrics import entity_scores
from structkd.objectives import teacher_topk, topk_cross_entropy
from structkd.persistence import save

from .model import Tagger


class Indexed(NamedTuple):
    """A training sentence with its position in the cached teacher marginals."""

    index: int
    sentence: Sentence


class TaggingTask:
    """Gold training of a :class:`Tagger`; dev score = entity F1."""

    def __init__(self, model: Tagger, eval_batch_size: int = 64):
        self.model, self.eval_batch_size = model, eval_batch_size

    def loss(self, batch: Sequence[Sentence], progress: float) -> torch.Tensor:
        return self.model.gold_loss([s.tokens for s in batch], [s.tags for s in batch])

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Decoded tags of every sentence (eval mode, no grad), in the order given."""
        was_training = self.model.training
        self.model.eval()
        out = []
        for start in range(0, len(sentences), self.eval_batch_size):
            out += self.model.decode([s.tokens for s in sentences[start : start + self.eval_batch_size]])
        self.model.train(was_training)
        return out

    def evaluate(self, sentences: Sequence[Sentence]) -> dict:
        scores = entity_scores([s.tags for s in sentences], self.predict(sentences))
        return {"score": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}

    def save(self, folder: Path) -> None:
        save(self.model, folder)


class DistillationTask(TaggingTask):
    """KD of a :class:`Tagger` student from cached teacher targets (see the module docstring).

    Training examples are :class:`Indexed` sentences; ``targets[i]`` belongs to the example of index ``i``.

    Args:
        targets: one entry per training example (:func:`teacher_targets`): for "structural", "token" and
            "posterior", the teacher's marginals over the student's substructures of that sentence; for
            "topk", a pair ``(outputs (K, n) labels, weights (K,))`` of the teacher's K best outputs.
        method: "structural", "token", "posterior" or "topk" (see :mod:`structkd.objectives`).
        lam, anneal: the KD weight; with ``anneal`` the weight is ``max(0, 1 - progress * anneal)``.
        temperature, local_temperature: as in :func:`structkd.kd_from_marginals`.
    """

    def __init__(self, model: Tagger, targets: list, method: str = "structural", lam: float = 1.0,
                 anneal: float | None = None, temperature: float = 1.0, local_temperature: float = 1.0):
        super().__init__(model)
        self.targets, self.method = targets, method
        self.lam, self.anneal = lam, anneal
        self.temperature, self.local_temperature = temperature, local_temperature

    def loss(self, examples: Sequence["Indexed"], progress: float) -> torch.Tensor:
        batch = [e.sentence for e in examples]
        dist = self.model.factorization([s.tokens for s in batch])
        kd = self._kd([self.targets[e.index] for e in examples], dist)
        lam = annealed_lambda(progress, self.anneal) if self.anneal is not None else self.lam
        has_gold = torch.tensor([s.tags is not None for s in batch], device=kd.device)
        if lam == 1 or not has_gold.any():
            return kd.mean()
        gold = torch.zeros_like(kd)
        gold[has_gold] = _gold_nll(self.model, dist, [s for s in batch if s.tags is not None], has_gold)
        return torch.where(has_gold, lam * kd + (1 - lam) * gold, kd).mean()

    def _kd(self, targets: list, dist) -> torch.Tensor:
        """``(B,)`` L_KD of the batch from its cached targets."""
        if self.method != "topk":
            marginals = pad_sequence(targets, batch_first=True).to(dist.log_potentials)
            return kd_from_marginals(marginals, dist, self.method, self.temperature, self.local_temperature)
        n = dist.log_potentials.shape[1]
        outputs = torch.stack([F.pad(y, (0, n - y.shape[1])) for y, _ in targets], 1)  # (K, B, N)
        weights = torch.stack([w for _, w in targets], 1).to(dist.log_potentials)  # (K, B)
        return topk_cross_entropy(outputs, weights, dist.tempered(self.temperature)) * self.temperature**2


def _gold_nll(model: Tagger, dist, labelled: Sequence[Sentence], has_gold: torch.Tensor) -> torch.Tensor:
    """``(G,)`` -log p(gold) of the ``labelled`` sentences, the rows ``has_gold`` of ``dist``."""
    sub = dist.with_potentials(dist.log_potentials[has_gold])
    sub.lengths = dist.lengths[has_gold]
    gold = model.head.gold([s.tags for s in labelled], dist.log_potentials.device)
    if torch.is_tensor(gold):  # label indices padded to the labelled sentences only: pad to the batch
        gold = F.pad(gold, (0, dist.log_potentials.shape[1] - gold.shape[1]))
    return -sub.log_prob_of(gold)


@torch.no_grad()
def teacher_targets(teacher, student: Tagger, sentences: Sequence[Sentence], method: str = "structural",
                    k: int = 5, batch_size: int = 32, global_temperature: float = 1.0,
                    show_progress: bool = True) -> list:
    """What distillation needs from the teacher, computed once: one entry per sentence.

    For "topk", the teacher's ``k`` best outputs ``(K, n)`` and their renormalised probabilities ``(K,)``
    (:func:`structkd.objectives.teacher_topk`); otherwise the teacher's marginals over the student's
    substructures, ``(n, ...)``, the projection (scenario 1a, 2a, 3 or 4) chosen by the pair of
    factorizations (:func:`structkd.project`).  The teacher runs once over ``sentences`` in eval mode;
    ``global_temperature`` divides its potentials before inference.
    """
    teacher.eval()
    out = []
    for start in tqdm(range(0, len(sentences), batch_size), desc="teacher", unit="batch",
                      disable=not show_progress, leave=False):
        words = [s.tokens for s in sentences[start : start + batch_size]]
        t_dist = teacher.factorization(words).tempered(global_temperature)
        lengths = t_dist.lengths.tolist()
        s_like = student.head(torch.zeros(len(words), max(lengths), student.encoder.output_size), t_dist.lengths)
        if method == "topk":
            outputs, weights = teacher_topk(t_dist, s_like, k)
            out += [(outputs[:, b, :n].clone(), weights[:, b].float().clone()) for b, n in enumerate(lengths)]
        else:
            marginals = project(t_dist, s_like).float()
            out += [m[:n].clone() for m, n in zip(marginals, lengths)]
    return out
