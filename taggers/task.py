"""The NER task for :class:`structkd.training.Trainer`: gold training of a :class:`Tagger`, scored by entity F1.

It is also the :class:`structkd.training.GoldTask` that :class:`structkd.training.DistillationTask` wraps to
distill a tagger.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from structkd.data import Sentence
from structkd.inference import decode_by_length
from structkd.metrics import entity_scores
from structkd.persistence import save

from .model import Tagger


class TaggingTask:
    """Gold training of a :class:`Tagger`; dev score = entity F1."""

    def __init__(self, model: Tagger, eval_batch_size: int = 64):
        self.model, self.eval_batch_size = model, eval_batch_size

    def loss(self, batch: Sequence[Sentence], progress: float) -> torch.Tensor:
        return self.model.gold_loss([s.tokens for s in batch], [s.tags for s in batch])

    @staticmethod
    def words(sentence: Sentence) -> list[str]:
        return sentence.tokens

    @staticmethod
    def has_gold(sentence: Sentence) -> bool:
        return sentence.tags is not None

    def forward(self, words: Sequence[Sequence[str]]) -> tuple:
        return self.model.factorization(words), None

    def gold_nll(self, dist, extra, labelled: Sequence[Sentence], rows: torch.Tensor) -> torch.Tensor:
        """``(G,)`` -log p(gold tags) of the ``labelled`` sentences, the rows ``rows`` of ``dist``."""
        sub = dist.with_potentials(dist.log_potentials[rows])
        sub.lengths = dist.lengths[rows]
        gold = self.model.head.gold([s.tags for s in labelled], dist.log_potentials.device)
        if torch.is_tensor(gold):  # label indices padded to the labelled sentences only: pad to the batch
            gold = F.pad(gold, (0, dist.log_potentials.shape[1] - gold.shape[1]))
        return -sub.log_prob_of(gold)

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Decoded tags of every sentence (eval mode, no grad, batched in length order), in the order given."""
        was_training = self.model.training
        self.model.eval()
        out = decode_by_length([s.tokens for s in sentences], [len(s.tokens) for s in sentences],
                               self.eval_batch_size, self.model.decode)
        self.model.train(was_training)
        return out

    def evaluate(self, sentences: Sequence[Sentence]) -> dict:
        return self.score(sentences, self.predict(sentences))

    def score(self, sentences: Sequence[Sentence], predicted: Sequence[Sequence[str]]) -> dict:
        """Entity F1 (the score), precision and recall of the ``predicted`` tags of ``sentences``."""
        scores = entity_scores([s.tags for s in sentences], predicted)
        return {"score": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}

    def save(self, folder: Path) -> None:
        save(self.model, folder)


