"""The sequence tagger: a word encoder (transformer or BiLSTM) plus a head that gives a structkd factorization."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from structkd import Factorization
from structkd.encoders import build_encoder
from structkd.persistence import register
from structkd.vocab import Vocab

from .heads import CRFHead, MaxEntHead, SpanHead

HEADS = {"crf": CRFHead, "maxent": MaxEntHead, "span": SpanHead}
ENCODER_FOLDER = "encoder"


@register("tagger")
class Tagger(nn.Module):
    """Encoder + head over a tag set.

    Parameters:
        encoder: a word encoder from :mod:`structkd.encoders` (or anything with the same call signature,
            ``output_size``, ``config``, ``save_assets`` and ``from_config``).
        tags: the tag names; for "span", a complete BIO or BIOES tag set.
        head: "crf" (:class:`~taggers.heads.CRFHead`), "maxent" (:class:`~taggers.heads.MaxEntHead`) or
            "span" (:class:`~taggers.heads.SpanHead`).
        dropout: on the word vectors, before the head.
        head_options: passed to the head (``hidden_size`` and ``max_width`` for "span").
    """

    def __init__(self, encoder: nn.Module, tags: Sequence[str], head: str = "crf", dropout: float = 0.1,
                 **head_options):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose from {sorted(HEADS)}")
        self.encoder = encoder
        self.labels = Vocab(tags, pad=None, unk=None)
        self.head_name, self.head_options = head, head_options
        self.dropout = nn.Dropout(dropout)
        self.head = HEADS[head](encoder.output_size, self.labels, **head_options)

    @property
    def tags(self) -> list[str]:
        return list(self.labels.tokens)

    def forward(self, words: Sequence[Sequence[str]]) -> Factorization:
        """The distribution over the outputs of ``B`` pre-tokenised sentences (see :meth:`factorization`)."""
        vectors, lengths = self.encoder(words)
        return self.head(self.dropout(vectors), lengths)

    def potentials(self, vectors: torch.Tensor) -> torch.Tensor:
        """The head's scores of ``(B, N, H)`` word vectors (from the encoder): ``(B, N, C)`` emissions ("crf",
        "maxent"; a CRF's transitions are parameters) or ``(B, N, N, R)`` span scores ("span")."""
        return self.head.potentials(self.dropout(vectors))

    def factorization(self, words: Sequence[Sequence[str]]) -> Factorization:
        """A :class:`structkd.LinearChainCRF`, :class:`structkd.MaxEnt` (labels: the tags) or
        :class:`structkd.SpanSegmentation` (labels: the entity types) for the batch ``words``."""
        return self(words)

    def blank_factorization(self, lengths: torch.Tensor) -> Factorization:
        """The head's distribution over zero word vectors for sentences of ``(B,)`` ``lengths``: the output layer's
        type, labels and lengths without running the encoder (what a student shows of itself when its teacher
        labels sentences for it)."""
        like = next(self.head.parameters())
        zeros = like.new_zeros(len(lengths), int(lengths.max()), self.encoder.output_size)
        return self.head(zeros, lengths.to(like.device))

    @torch.no_grad()
    def decode(self, words: Sequence[Sequence[str]]) -> list[list[str]]:
        """The best tag sequence of every sentence (span outputs are written in the tag set's scheme).

        Runs in whatever mode the model is in: call ``eval()`` first to decode without dropout."""
        vectors, lengths = self.encoder(words)
        return self.head.decode(self.dropout(vectors), lengths)

    def gold_loss(self, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> torch.Tensor:
        """Mean over the batch of ``-log p(gold tags)`` (for the span head: of the gold entity spans)."""
        if [len(t) for t in tags] != [len(w) for w in words]:
            raise ValueError(f"gold tags of lengths {[len(t) for t in tags]} for sentences of lengths "
                             f"{[len(w) for w in words]}")
        for sequence in tags:
            self.labels.indices(sequence)  # unknown tags raise KeyError here
        dist = self(words)
        return -dist.log_prob_of(self.head.gold(tags, dist.log_potentials.device)).mean()

    def encoder_inputs(self) -> list[tuple[nn.Module, str, int]]:
        """``(module, parameter name, dimension)`` of every parameter indexed by the encoder's output width (for
        :mod:`structkd.compression`, which narrows them when the encoder narrows)."""
        return self.head.encoder_inputs()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def config(self) -> dict:
        """JSON-able description of the model (see :mod:`structkd.persistence`)."""
        return {"encoder": self.encoder.config(), "tags": self.tags, "head": self.head_name,
                "dropout": self.dropout.p, "head_options": self.head_options}

    def save_assets(self, folder: str | Path) -> None:
        self.encoder.save_assets(Path(folder) / ENCODER_FOLDER)

    @classmethod
    def from_config(cls, config: dict, folder: str | Path) -> "Tagger":
        encoder = build_encoder(config["encoder"], Path(folder) / ENCODER_FOLDER)
        return cls(encoder, config["tags"], config["head"], config["dropout"], **config["head_options"])
