"""Distillation from cached teacher targets, for any model whose task follows :class:`GoldTask`.

The teacher runs once over the training (and transfer) sentences (:func:`teacher_targets`): its marginals
over the student's substructures, or for Top-K KD its K best outputs, are kept per sentence, so the
teacher never runs during training.  :class:`DistillationTask` then trains the student on

    L = lam * L_KD + (1 - lam) * L_gold      (transfer sentences, without gold: L = L_KD)

with ``lam`` fixed or annealed (``lam = max(0, 1 - progress * anneal)``).

A teacher that labels its arcs (a :class:`LabelledModel`, such as a dependency parser) also passes on its
relation distributions: on the :data:`LABEL_HEADS` most probable heads of every word (for Top-K KD, on the arcs
of its K best trees), with the arcs' probabilities, so that ``L_KD`` gains the relation term of
:func:`structkd.label_cross_entropy`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import divergences
from ..objectives import (
    annealed_lambda, kd_from_marginals, kd_targets, label_cross_entropy, teacher_topk, topk_cross_entropy,
)

#: candidate heads per word whose relation distributions a labelling teacher passes on (its most probable ones)
LABEL_HEADS = 3


class LabelledModel(Protocol):
    """A model whose outputs are arcs with relation labels (a dependency parser)."""

    def labelled_factorization(self, words: Sequence[Sequence[str]]) -> tuple[object, Callable]:
        """``(dist, label_scores)``: the distribution over head vectors of the batch ``words``, and a function
        from candidate heads ``(B, N+1, K)`` (``heads[b, m, k] -> m``) to their relation scores
        ``(B, N+1, K, R)``."""


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

    # a task whose model is a :class:`LabelledModel` also offers:
    # label_scores(extra, heads): (B, N+1, K) candidate heads -> (B, N+1, K, R) relation scores, from ``extra``


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
    for "token" its local per-position distributions), one sentence's rows and columns each.  ``teacher`` is a
    model with ``factorization(words)``, ``student`` one with ``blank_factorization(lengths)`` (its output layer's
    type, labels and lengths: the student's encoder never runs here); both in eval mode, the teacher with its
    potentials divided by ``global_temperature``, over batches of sentences of similar length (less padding); the
    entries come back in the order of ``words``.
    """
    teacher.eval()
    was_training = student.training
    student.eval()
    labelled = hasattr(teacher, "labelled_factorization")
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    out: list = [None] * len(words)
    for start in tqdm(range(0, len(words), batch_size), desc="teacher", unit="batch", disable=not show_progress,
                      leave=False):
        rows = order[start : start + batch_size]
        batch = [words[i] for i in rows]
        t_dist, label_scores = teacher.labelled_factorization(batch) if labelled else (teacher.factorization(batch), None)
        t_dist = t_dist.tempered(global_temperature)
        s_dist = student.blank_factorization(torch.tensor([len(w) for w in batch]))  # its type, labels and lengths
        if method == "topk":
            outputs, weights = teacher_topk(t_dist, s_dist, k)  # (K, B, N[+1]), (K, B)
            parts = [outputs.permute(1, 2, 0), weights.T]  # (B, N[+1], K), (B, K)
            arcs = (parts[0], parts[1].unsqueeze(1).expand_as(parts[0]))  # each tree's weight on its arcs
        else:
            parts = [kd_targets(t_dist, s_dist, method)]
            if labelled:  # the most probable heads of every word, [b, m, h] -> (B, N+1, K)
                divergence = method in divergences.OBJECTIVES
                arc_marginals = divergences.arc_marginals(parts[0], s_dist) if divergence else parts[0]
                weights, heads = arc_marginals.topk(min(LABEL_HEADS, arc_marginals.shape[-1]), -1)
                arcs = (heads.masked_fill(weights == 0, 0), weights)  # no head past the sentence's end
        if labelled:
            probs = (label_scores(arcs[0]) / global_temperature).softmax(-1)  # (B, N+1, K, R)
            parts += [part[:, 1:] for part in (arcs[0], arcs[1], probs)]  # dependents 1..N
        for i, w, *sentence in zip(rows, batch, *parts):
            out[i] = _sentence_targets(sentence, len(w), s_dist, method, labelled)
    student.train(was_training)
    return out


def _sentence_targets(parts: list, n: int, s_dist, method: str, labelled: bool):
    """One sentence's targets without padding: the marginals (or Top-K outputs ``(K, n[+1])`` and weights
    ``(K,)``), then with a labelling teacher the candidate heads ``(n, K)``, their weights ``(n, K)`` and
    relation distributions ``(n, K, R)``; a lone tensor for marginals without labels."""
    if method == "topk":
        core = [parts[0][: n + s_dist.root_positions].T, parts[1]]
    else:
        core = [parts[0][s_dist.sentence_slice(n)]]
    cut = [p[:n] for p in parts[len(core):]]
    kept = [t.float().cpu().clone() if t.is_floating_point() else t.cpu().clone() for t in core + cut]
    return kept[0] if len(kept) == 1 else tuple(kept)


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
        method: "structural", "token", "posterior", "topk", "kl", "rkl", "js" or "tvd" (see
            :mod:`structkd.objectives`).
        lam, anneal: the KD weight; with ``anneal`` the weight is ``max(0, 1 - progress * anneal)``.
        temperature, local_temperature: as in :func:`structkd.kd_from_marginals`.
        beta: the skew of "js".
    """

    def __init__(self, base: GoldTask, targets: list, method: str = "structural", lam: float = 1.0,
                 anneal: float | None = None, temperature: float = 1.0, local_temperature: float = 1.0,
                 beta: float = 0.5):
        self.base, self.model = base, base.model
        self.targets, self.method = targets, method
        self.lam, self.anneal = lam, anneal
        self.temperature, self.local_temperature, self.beta = temperature, local_temperature, beta

    def loss(self, examples: Sequence[Indexed], progress: float) -> torch.Tensor:
        batch = [e.sentence for e in examples]
        dist, extra = self.base.forward([self.base.words(s) for s in batch])
        kd = self._kd([self.targets[e.index] for e in examples], dist, extra)
        return self.mixed_loss(kd, dist, extra, batch, self.lam_at(progress))

    def lam_at(self, progress: float) -> float:
        """The KD weight at ``progress`` (annealed, or the fixed ``lam``)."""
        return annealed_lambda(progress, self.anneal) if self.anneal is not None else self.lam

    def mixed_loss(self, kd: torch.Tensor, dist, extra, batch: Sequence, lam: float) -> torch.Tensor:
        """Mean of ``lam * kd + (1 - lam) * gold`` over the sentences with gold and ``kd`` over the others, for the
        ``(B,)`` KD terms ``kd`` of the student's ``(dist, extra)`` on ``batch``."""
        rows = torch.tensor([self.base.has_gold(s) for s in batch], device=kd.device)
        if lam == 1 or not rows.any():
            return kd.mean()
        gold = torch.zeros_like(kd)
        gold[rows] = self.base.gold_nll(dist, extra, [s for s in batch if self.base.has_gold(s)], rows)
        return torch.where(rows, lam * kd + (1 - lam) * gold, kd).mean()

    def _kd(self, targets: list, dist, extra) -> torch.Tensor:
        """``(B,)`` L_KD of the batch from its cached targets (arcs or labels, plus relations when the targets
        carry them)."""
        potentials = dist.log_potentials
        parts = [t if isinstance(t, tuple) else (t,) for t in targets]
        core = 2 if self.method == "topk" else 1
        if self.method != "topk":
            marginals = pad_stack([p[0] for p in parts]).to(potentials)
            kd = kd_from_marginals(marginals, dist, self.method, self.temperature, self.local_temperature, self.beta)
        else:
            outputs = pad_stack([p[0] for p in parts]).transpose(0, 1).to(potentials.device)  # (K, B, N)
            weights = torch.stack([p[1] for p in parts], 1).to(potentials)  # (K, B)
            kd = topk_cross_entropy(outputs, weights, dist.tempered(self.temperature)) * self.temperature**2
        if len(parts[0]) == core:
            return kd
        heads, weights, probs = (pad_stack([p[j] for p in parts]).to(potentials.device) for j in range(core, core + 3))
        student_scores = self.base.label_scores(extra, F.pad(heads, (0, 0, 1, 0)))[:, 1:]  # (B, N, K, R)
        return kd + label_cross_entropy(weights.to(potentials), probs.to(potentials), student_scores,
                                        self.temperature, self.local_temperature)

    def evaluate(self, sentences: Sequence) -> dict:
        return self.base.evaluate(sentences)

    def predict(self, sentences: Sequence):
        return self.base.predict(sentences)

    def score(self, sentences: Sequence, predicted) -> dict:
        return self.base.score(sentences, predicted)

    def save(self, folder: Path) -> None:
        self.base.save(folder)
