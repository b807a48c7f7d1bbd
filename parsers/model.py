"""The biaffine dependency parser (Dozat & Manning 2017) over any word encoder, with a choice of output structure.

Word vectors ``(B, N, H)`` from the encoder get a learned ROOT vector in front (position 0), so that every
score tensor has the ``(B, N+1, ...)`` layout of :mod:`structkd.structs`, index 0 the root:

* arcs ``(B, N+1, N+1)`` ``[b, m, h]``: the score of ``h -> m``, a biaffine form over arc-dependent and
  arc-head MLPs with a head prior (:class:`~parsers.scorers.PairScorer`);
* labels ``(B, N+1, N+1, R)`` ``[b, m, h, r]``: the score of relation ``r`` on ``h -> m``, a biaffine form
  with ``R`` outputs over relation MLPs;
* siblings ``(B, N+1, N+1, N+1)`` ``[b, h, m, s]`` ("sibling" only): a triaffine form.

Cells outside the sentence (index 0 as a dependent, ``h = m``, padding) hold arbitrary values; every
factorization ignores them.  The ``structure`` decides the distribution over head vectors, its training
loss and its decoder:

* "projective": :class:`structkd.ProjectiveDependencyCRF`; arc loss ``-log p(gold tree)``; Eisner decoding.
* "nonprojective": :class:`structkd.NonProjectiveDependencyCRF`; arc loss ``-log p(gold tree)``;
  Chu-Liu-Edmonds (MST) decoding.
* "local": :class:`structkd.HeadSelection`; arc loss ``-sum_m log softmax_h(arcs[m])[gold h_m]``; MST decoding
  on the arc scores.
* "head-selection": :class:`structkd.HeadSelection`; the same loss; per-word argmax decoding.
* "sibling": :class:`structkd.SiblingMeanField` (arcs + siblings); arc loss ``-sum_m log q_m(gold h_m)``
  with ``q`` the mean-field marginals; MST decoding on ``log q``.

"local" is the locally trained biaffine parser of Dozat & Manning; "head-selection" is the same model
decoded without the tree constraint (parsing as sequence labelling), so its output need not be a tree.
Labels are predicted for the decoded arcs: ``r_m = argmax_r rels[m, h_m, r]``; label scores are computed for
these arcs only (and in training for the gold arcs), never for every word pair.

Gold trees must be trees the structure can produce (see :mod:`parsers.trees`): projective ones for
"projective" (filter with :func:`parsers.is_projective`; UD English-EWT has 2.3% non-projective training
sentences), and with ``multiroot=False`` exactly one word attached to the root for every structure but
"head-selection".  Others raise ValueError naming the sentence.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from structkd import HeadSelection, NonProjectiveDependencyCRF, ProjectiveDependencyCRF, SiblingMeanField
from structkd.decoders import tree_lists
from structkd.encoders import build_encoder
from structkd.persistence import read_json, register, write_json
from structkd.structs.base import length_mask
from structkd.structs.mst import mst
from structkd.vocab import Vocab

from .scorers import MLP, PairScorer, SiblingScorer
from .trees import check_gold

STRUCTURES = ("projective", "nonprojective", "local", "head-selection", "sibling")
ENCODER_FOLDER = "encoder"
RELS_FILE = "rels.json"


class ParserScores(NamedTuple):
    """The parser's scores of a batch (see the module docstring for the layouts)."""
    arcs: torch.Tensor  #: ``(B, N+1, N+1)`` ``[b, m, h]``
    rel_dependents: torch.Tensor  #: ``(B, N+1, rel_size)`` dependent-role vectors of the label scorer
    rel_heads: torch.Tensor  #: ``(B, N+1, rel_size)`` head-role vectors of the label scorer
    lengths: torch.Tensor  #: ``(B,)`` numbers of words
    siblings: torch.Tensor | None = None  #: ``(B, N+1, N+1, N+1)`` ``[b, h, m, s]``, "sibling" only


@register("parser")
class Parser(nn.Module):
    """Encoder + ROOT vector + biaffine arc and label scorers (+ a sibling scorer) over a relation set.

    Parameters:
        encoder: a word encoder from :mod:`structkd.encoders` (or anything with the same call signature,
            ``output_size``, ``config``, ``save_assets`` and ``from_config``).
        rels: the dependency relation names.
        structure: one of :data:`STRUCTURES` (see the module docstring).
        multiroot: let a tree attach several words to the root (the tree structures and the MST of "local";
            no effect on "head-selection", whose outputs are unconstrained).
        arc_size, rel_size, sib_size: the MLP sizes of the arc, label and sibling scorers (SuPar's 500, 100, 100).
        dropout: on the word vectors (ROOT included), before the scorers.
        mlp_dropout: on every MLP's output.
        iterations: mean-field iterations of "sibling".
    """

    def __init__(self, encoder: nn.Module, rels: Sequence[str], structure: str = "local", multiroot: bool = False,
                 arc_size: int = 500, rel_size: int = 100, sib_size: int = 100, dropout: float = 0.1,
                 mlp_dropout: float = 0.33, iterations: int = 3):
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"unknown structure {structure!r}; choose from {list(STRUCTURES)}")
        self.encoder = encoder
        self.labels = Vocab(rels, pad=None, unk=None)
        self.structure, self.multiroot, self.iterations = structure, multiroot, iterations
        self.options = {"arc_size": arc_size, "rel_size": rel_size, "sib_size": sib_size, "dropout": dropout,
                        "mlp_dropout": mlp_dropout}
        size = encoder.output_size
        self.root = nn.Parameter(torch.randn(size) / size ** 0.5)
        self.dropout = nn.Dropout(dropout)
        self.arc_scorer = PairScorer(size, arc_size, 1, head_bias=False, dropout=mlp_dropout)
        self.rel_scorer = PairScorer(size, rel_size, len(self.labels), head_bias=True, dropout=mlp_dropout)
        self.sib_scorer = SiblingScorer(size, sib_size, mlp_dropout) if structure == "sibling" else None

    @property
    def rels(self) -> list[str]:
        return list(self.labels.tokens)

    def forward(self, words: Sequence[Sequence[str]]) -> ParserScores:
        """The scores of ``B`` pre-tokenised sentences (see :meth:`scores`)."""
        return self.score_vectors(*self.encoder(words))

    def score_vectors(self, vectors: torch.Tensor, lengths: torch.Tensor) -> ParserScores:
        """The :class:`ParserScores` of ``(B, N, H)`` word vectors of ``(B,)`` lengths (from the encoder)."""
        root = self.root.expand(vectors.shape[0], 1, -1)
        x = self.dropout(torch.cat([root, vectors], 1))  # (B, N+1, H)
        siblings = None if self.sib_scorer is None else self.sib_scorer(x)
        return ParserScores(self.arc_scorer(x).squeeze(-1), *self.rel_scorer.roles(x), lengths, siblings)

    def scores(self, words: Sequence[Sequence[str]]) -> ParserScores:
        """Arc ``(B, N+1, N+1)`` and ("sibling") sibling ``(B, N+1, N+1, N+1)`` scores, the label scorer's role
        vectors (label scores of any arcs: :meth:`rel_scores`) and the ``(B,)`` lengths, as a :class:`ParserScores`."""
        return self(words)

    def rel_scores(self, scores: ParserScores, heads: torch.Tensor) -> torch.Tensor:
        """``(B, N+1, R)`` label scores of the arcs ``heads[b, m] -> m`` (``(B, N+1)`` head indices)."""
        return self.rel_scorer.at_heads(scores.rel_dependents, scores.rel_heads, heads)

    def candidate_rel_scores(self, scores: ParserScores, heads: torch.Tensor) -> torch.Tensor:
        """``(B, N+1, K, R)`` label scores of ``K`` candidate arcs per word, ``heads[b, m, k] -> m``
        (``(B, N+1, K)`` head indices)."""
        return torch.stack([self.rel_scores(scores, heads[..., k]) for k in range(heads.shape[-1])], 2)

    def labelled_factorization(self, words: Sequence[Sequence[str]]):
        """``(dist, label_scores)`` of the batch ``words``: the structure's distribution and
        :meth:`candidate_rel_scores` on the same scores (a :class:`structkd.training.distillation.LabelledModel`)."""
        scores = self(words)
        return self.distribution(scores), lambda heads: self.candidate_rel_scores(scores, heads)

    def distribution(self, scores: ParserScores):
        """The structure's distribution over head vectors, from (possibly cached) :class:`ParserScores`."""
        if self.structure == "projective":
            return ProjectiveDependencyCRF(scores.arcs, scores.lengths, self.multiroot)
        if self.structure == "nonprojective":
            return NonProjectiveDependencyCRF(scores.arcs, scores.lengths, self.multiroot)
        if self.structure == "sibling":
            return SiblingMeanField(scores.arcs, scores.siblings, scores.lengths, self.iterations, self.multiroot)
        return HeadSelection(scores.arcs, scores.lengths)

    def factorization(self, words: Sequence[Sequence[str]]):
        """The structure's distribution for the batch ``words`` (the teacher or student side of
        :func:`structkd.kd_loss`): a ``ProjectiveDependencyCRF``, ``NonProjectiveDependencyCRF``,
        ``HeadSelection`` ("local", "head-selection") or ``SiblingMeanField``."""
        return self.distribution(self(words))

    def blank_factorization(self, lengths: torch.Tensor):
        """The structure's distribution over zero word vectors for sentences of ``(B,)`` ``lengths``: its type and
        lengths without running the encoder (what a student shows of itself when its teacher labels sentences for
        it)."""
        zeros = self.root.new_zeros(len(lengths), int(lengths.max()), self.encoder.output_size)
        return self.distribution(self.score_vectors(zeros, lengths.to(self.root.device)))

    def decode_heads(self, scores: ParserScores) -> torch.Tensor:
        """``(B, N+1)`` best heads ``[b, m]`` (0 at index 0 and on padding) by the structure's decoder."""
        if self.structure == "local":
            return mst(scores.arcs, scores.lengths, self.multiroot)
        return self.distribution(scores).decode()

    @torch.no_grad()
    def decode(self, words: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[str]]]:
        """The best tree of every sentence: 1-based heads per word (0 = the root) and a relation per word.

        Runs in whatever mode the model is in: call ``eval()`` first to decode without dropout."""
        scores = self(words)
        heads = self.decode_heads(scores)
        rels = self.rel_scores(scores, heads).argmax(-1)
        return tree_lists(heads.cpu().numpy(), rels.cpu().numpy(), scores.lengths.cpu().numpy(), self.labels.tokens)

    def gold_loss(self, words: Sequence[Sequence[str]], heads: Sequence[Sequence[int]],
                  rels: Sequence[Sequence[str]]) -> torch.Tensor:
        """Mean over the batch of :meth:`sentence_losses`."""
        return self.sentence_losses(self(words), heads, rels, words).mean()

    def check_gold(self, words: Sequence[Sequence[str]], heads: Sequence[Sequence[int]],
                   rels: Sequence[Sequence[str]]) -> torch.Tensor:
        """The ``(G, N_gold+1)`` head tensor of gold trees, after checking that the structure can produce them.

        Raises ValueError naming the sentence for a tree it cannot produce (see :func:`parsers.trees.check_gold`)
        or relations of the wrong lengths, and KeyError for an unknown relation."""
        gold = check_gold(heads, words, tree=self.structure != "head-selection", multiroot=self.multiroot,
                          projective=self.structure == "projective")
        if [len(r) for r in rels] != [len(w) for w in words]:
            raise ValueError(f"gold relations of lengths {[len(r) for r in rels]} for sentences of lengths "
                             f"{[len(w) for w in words]}")
        for sentence in rels:
            self.labels.indices(sentence)  # unknown relations raise KeyError here
        return gold

    def sentence_losses(self, scores: ParserScores, heads: Sequence[Sequence[int]], rels: Sequence[Sequence[str]],
                        words: Sequence[Sequence[str]], rows: torch.Tensor | None = None) -> torch.Tensor:
        """``(G,)`` per-sentence gold losses: the arc loss of the gold tree (see the module docstring) plus the
        label loss ``-sum_m log softmax_r(rels[m, gold h_m])[gold r_m]``.

        ``scores`` are those of a batch; the ``G`` gold trees (``heads``, ``rels``, with their ``words`` for
        the checks of :meth:`check_gold`) belong to its rows ``rows`` (a ``(B,)`` bool mask or indices;
        default: all rows)."""
        if rows is not None:
            scores = ParserScores(*(None if t is None else t[rows] for t in scores))
        gold = self.check_gold(words, heads, rels)
        if [len(w) for w in words] != scores.lengths.tolist():
            raise ValueError(f"gold trees of lengths {[len(w) for w in words]} for scored sentences of lengths "
                             f"{scores.lengths.tolist()}")
        size = scores.arcs.shape[1]
        gold = F.pad(gold, (0, size - gold.shape[1])).to(scores.arcs.device)  # (G, N+1)
        dist = self.distribution(scores)
        arc_loss = dist.gold_loss(gold) if self.structure == "sibling" else -dist.log_prob_of(gold)
        rel_ids = F.pad(self.labels.tensor(rels, gold.device), (0, size - 1 - max(map(len, rels))))  # (G, N)
        rel_nll = F.cross_entropy(self.rel_scores(scores, gold)[:, 1:].transpose(1, 2), rel_ids, reduction="none")
        return arc_loss + rel_nll.masked_fill(~length_mask(scores.lengths, size - 1), 0.0).sum(-1)

    def encoder_inputs(self) -> list[tuple[nn.Module, str, int]]:
        """``(module, parameter name, dimension)`` of every parameter indexed by the encoder's output width: the
        ROOT vector and the first layer of every scorer MLP (for :mod:`structkd.compression`)."""
        return [(self, "root", 0)] + [(mlp.linear, "weight", 1) for mlp in self.modules() if isinstance(mlp, MLP)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def config(self) -> dict:
        """JSON-able description of the model (see :mod:`structkd.persistence`); the relations go to ``rels.json``."""
        return {"encoder": self.encoder.config(), "structure": self.structure, "multiroot": self.multiroot,
                "iterations": self.iterations, **self.options}

    def save_assets(self, folder: str | Path) -> None:
        write_json(folder, RELS_FILE, self.labels.to_dict())
        self.encoder.save_assets(Path(folder) / ENCODER_FOLDER)

    @classmethod
    def from_config(cls, config: dict, folder: str | Path) -> "Parser":
        encoder = build_encoder(config["encoder"], Path(folder) / ENCODER_FOLDER)
        rels = Vocab.from_dict(read_json(folder, RELS_FILE)).tokens
        return cls(encoder, rels, config["structure"], config["multiroot"], config["arc_size"], config["rel_size"],
                   config["sib_size"], config["dropout"], config["mlp_dropout"], config["iterations"])
