"""The parsing task for :class:`structkd.training.Trainer`: gold training of a :class:`Parser`, scored by LAS.

It is also the :class:`structkd.training.GoldTask` that :class:`structkd.training.DistillationTask` wraps to
distill a parser: the KD and gold terms both cover arcs and relations.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from structkd.attachment import attachment_scores
from structkd.data import TreeSentence
from structkd.inference import decode_by_length
from structkd.persistence import save

from .model import Parser


class ParsingTask:
    """Gold training of a :class:`Parser`; dev score = LAS (punctuation excluded unless ``punct``)."""

    def __init__(self, model: Parser, punct: bool = False, eval_batch_size: int = 64):
        self.model, self.punct, self.eval_batch_size = model, punct, eval_batch_size

    def loss(self, batch: Sequence[TreeSentence], progress: float) -> torch.Tensor:
        return self.model.gold_loss([s.words for s in batch], [s.heads for s in batch], [s.rels for s in batch])

    @staticmethod
    def words(sentence: TreeSentence) -> list[str]:
        return sentence.words

    @staticmethod
    def has_gold(sentence: TreeSentence) -> bool:
        return sentence.heads is not None

    def forward(self, words: Sequence[Sequence[str]]) -> tuple:
        scores = self.model(words)
        return self.model.distribution(scores), scores

    def gold_nll(self, dist, scores, labelled: Sequence[TreeSentence], rows: torch.Tensor) -> torch.Tensor:
        """``(G,)`` arc and relation losses of the ``labelled`` sentences, the rows ``rows`` of the batch."""
        return self.model.sentence_losses(scores, [s.heads for s in labelled], [s.rels for s in labelled],
                                          [s.words for s in labelled], rows)

    def label_scores(self, scores, heads: torch.Tensor) -> torch.Tensor:
        """``(B, N+1, K, R)`` the student's relation scores of the candidate arcs ``heads`` ``(B, N+1, K)``, from
        the scores of :meth:`forward`."""
        return self.model.candidate_rel_scores(scores, heads)

    def predict(self, sentences: Sequence) -> tuple[list[list[int]], list[list[str]]]:
        """Decoded heads and relations of every sentence (eval mode, no grad, batched in length order), in the
        order given."""
        was_training = self.model.training
        self.model.eval()
        words = [self.words(s) for s in sentences]
        trees = decode_by_length(words, [len(w) for w in words], self.eval_batch_size,
                                 lambda batch: list(zip(*self.model.decode(batch))))
        self.model.train(was_training)
        return [list(heads) for heads, _ in trees], [list(rels) for _, rels in trees]

    def evaluate(self, sentences: Sequence[TreeSentence]) -> dict:
        return self.score(sentences, self.predict(sentences))

    def score(self, sentences: Sequence[TreeSentence], predicted: tuple) -> dict:
        """LAS (the score) and UAS of the ``predicted`` ``(heads, rels)`` of ``sentences``."""
        heads, rels = predicted
        scores = attachment_scores([s.heads for s in sentences], [s.rels for s in sentences], heads, rels,
                                   [s.words for s in sentences], punct=self.punct)
        return {"score": scores["las"], "uas": scores["uas"], "las": scores["las"]}

    def save(self, folder: Path) -> None:
        save(self.model, folder)
