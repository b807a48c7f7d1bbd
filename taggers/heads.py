"""Tagger heads: word vectors -> the potentials of a structkd factorization.

Every head is called as ``head(vectors, lengths)`` on ``(B, N, H)`` word vectors and ``(B,)`` lengths and
returns a :class:`structkd.Factorization` with ``labels`` set. ``gold(tag_lists, device)`` turns gold
tag sequences into the factorization's compact output (for ``log_prob_of``), and ``tags(dist)`` turns
its decoded output back into tag sequences.

* :class:`CRFHead` -- emissions + transitions + start/end -> :class:`structkd.LinearChainCRF`;
* :class:`MaxEntHead` -- emissions -> :class:`structkd.MaxEnt`;
* :class:`SpanHead` -- a biaffine span scorer -> :class:`structkd.SpanSegmentation` over entity types.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from structkd import LinearChainCRF, MaxEnt, SpanSegmentation, constraint_scores
from structkd.decoders import emission_pair_scores, viterbi
from structkd.encoders.type_cache import parameter_state
from structkd.schemes import (
    detect_scheme, entity_types, parse_tag, spans_to_tags, tags_to_entities, transition_table,
)
from structkd.vocab import Vocab


def is_entity_scheme(tags: Sequence[str]) -> bool:
    """Whether every tag is "O" or a B-/I-/E-/S- prefix with a type (a BIO or BIOES tag set)."""
    try:
        for tag in tags:
            parse_tag(tag)
    except ValueError:
        return False
    return True


class Head(nn.Module):
    """Base of the heads: ``head(vectors, lengths)`` gives the factorization, ``tags(dist)`` its decoded tags."""

    def decode(self, vectors: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
        """The best tags of every sentence of ``(B, N, H)`` word vectors."""
        return self.tags(self(vectors, lengths))


class LabelHead(Head):
    """Base of the heads that give one label per token: a linear layer scores every label of every word."""

    def __init__(self, input_size: int, labels: Vocab):
        super().__init__()
        self.labels = labels
        self.emissions = nn.Linear(input_size, len(labels))

    def encoder_inputs(self) -> list[tuple[nn.Module, str, int]]:
        """The parameters that read the word vectors (see :meth:`taggers.Tagger.encoder_inputs`)."""
        return [(self.emissions, "weight", 1)]

    def potentials(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` emission scores of ``(B, N, H)`` word vectors."""
        return self.emissions(vectors)

    def gold(self, tag_lists: Sequence[Sequence[str]], device=None) -> torch.Tensor:
        """``(B, N)`` label indices of the gold tags (0 on padding)."""
        return self.labels.tensor(tag_lists, device)

    def tags(self, dist) -> list[list[str]]:
        """The decoded tags of every sentence of ``dist``."""
        return self.label_names(dist.decode().tolist(), dist.lengths.tolist())

    def label_names(self, decoded: list[list[int]], lengths: list[int]) -> list[list[str]]:
        return [[self.labels.token(i) for i in row[:n]] for row, n in zip(decoded, lengths)]


class MaxEntHead(LabelHead):
    """Independent per-token softmax: ``(B, N, H)`` -> :class:`structkd.MaxEnt` ``(B, N, C)``."""

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> MaxEnt:
        return MaxEnt(self.potentials(vectors), lengths, labels=self.labels.tokens)


class CRFHead(LabelHead):
    """Linear-chain CRF: ``(B, N, H)`` -> :class:`structkd.LinearChainCRF` ``(B, N, C, C)``.

    Learned ``(C, C)`` transitions and ``(C,)`` start / end scores. When the labels form a BIO or BIOES tag
    set, the transitions the scheme forbids get fixed ``-inf`` scores (:func:`structkd.constraint_scores`),
    and a gold sequence that breaks them is an error; other label sets (e.g. POS tags) are unconstrained.
    """

    def __init__(self, input_size: int, labels: Vocab):
        super().__init__(input_size, labels)
        size = len(labels)
        self.transitions = nn.Parameter(torch.zeros(size, size))
        self.start = nn.Parameter(torch.zeros(size))
        self.end = nn.Parameter(torch.zeros(size))
        self.constrained = is_entity_scheme(labels.tokens)
        if self.constrained:
            masks = constraint_scores(labels.tokens)
        else:
            masks = (torch.zeros(size), torch.zeros(size, size), torch.zeros(size))
        for name, mask in zip(("start_mask", "transition_mask", "end_mask"), masks):
            self.register_buffer(name, mask, persistent=False)
        self._chain_state, self._chain_arrays = None, ()  # the NumPy scores of :meth:`chain`

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> LinearChainCRF:
        return LinearChainCRF.from_emissions(
            self.potentials(vectors), self.transitions + self.transition_mask, lengths,
            self.start + self.start_mask, self.end + self.end_mask, labels=self.labels.tokens,
        )

    def decode(self, vectors: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
        """The Viterbi tags of every sentence, in NumPy straight from the emissions (:mod:`structkd.decoders`):
        the labels of ``self(vectors, lengths).decode()`` without building the factorization."""
        sizes = lengths.cpu().numpy()
        phi = emission_pair_scores(self.potentials(vectors).detach().cpu().float().numpy(), *self.chain(), sizes)
        return self.label_names(viterbi(phi, sizes).tolist(), sizes.tolist())

    def chain(self) -> tuple:
        """The constrained transition, start and end scores as NumPy arrays, converted again only when the
        parameters change (:func:`structkd.encoders.type_cache.parameter_state`)."""
        state = parameter_state((self.transitions, self.start, self.end))
        if self._chain_state != state:
            with torch.no_grad():
                self._chain_arrays = tuple((p + mask).cpu().float().numpy() for p, mask in (
                    (self.transitions, self.transition_mask), (self.start, self.start_mask), (self.end, self.end_mask)))
            self._chain_state = state
        return self._chain_arrays

    def gold(self, tag_lists: Sequence[Sequence[str]], device=None) -> torch.Tensor:
        if self.constrained:
            check_transitions(tag_lists, self.labels.tokens)
        return super().gold(tag_lists, device)


def check_transitions(tag_lists: Sequence[Sequence[str]], tags: Sequence[str]) -> None:
    """Raise ValueError on a tag sequence with a transition the scheme of ``tags`` forbids."""
    start, transitions, end = transition_table(tags)
    index = {t: i for i, t in enumerate(tags)}
    for b, sequence in enumerate(tag_lists):
        ids = [index[t] for t in sequence]
        bad = [f"{sequence[i - 1]} -> {sequence[i]}" for i in range(1, len(ids)) if not transitions[ids[i - 1]][ids[i]]]
        if not start[ids[0]]:
            bad.append(f"starts with {sequence[0]}")
        if not end[ids[-1]]:
            bad.append(f"ends with {sequence[-1]}")
        if bad:
            raise ValueError(f"gold sentence {b} breaks the {detect_scheme(tags)} scheme ({'; '.join(bad)}): "
                             f"{list(sequence)}")


class SpanHead(Head):
    """Biaffine span scorer ("NER as parsing"): ``(B, N, H)`` -> :class:`structkd.SpanSegmentation`
    ``(B, N, N, R)`` over the ``R`` entity types of a BIO / BIOES tag set.

    Start and end MLPs (``H -> hidden_size``) feed a biaffine scorer with ``R + 1`` outputs, the types and
    "None"; the potentials are ``s(i, j, r) - s(i, j, None)``. Spans wider than ``max_width`` are excluded.
    """

    def __init__(self, input_size: int, labels: Vocab, hidden_size: int = 150, max_width: int | None = None):
        super().__init__()
        tags = labels.tokens
        if not is_entity_scheme(tags):
            raise ValueError(f"the span head needs BIO or BIOES tags, got {tags}")
        self.scheme = detect_scheme(tags)
        self.types = entity_types(tags)
        prefixes = ("B", "I", "E", "S") if self.scheme == "BIOES" else ("B", "I")
        missing = [t for t in ["O"] + [f"{p}-{k}" for k in self.types for p in prefixes] if t not in labels]
        if missing:
            raise ValueError(f"the span head decodes into {self.scheme} tags, but {missing} are missing from {tags}")
        self.max_width = max_width
        self.start_mlp = nn.Sequential(nn.Linear(input_size, hidden_size), nn.LeakyReLU(0.1))
        self.end_mlp = nn.Sequential(nn.Linear(input_size, hidden_size), nn.LeakyReLU(0.1))
        self.biaffine = nn.Parameter(torch.randn(len(self.types) + 1, hidden_size + 1, hidden_size + 1) / hidden_size)

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> SpanSegmentation:
        return SpanSegmentation(self.potentials(vectors), lengths, labels=self.types, max_width=self.max_width)

    def potentials(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(B, N, N, R)`` span scores ``s(i, j, r) - s(i, j, None)`` of ``(B, N, H)`` word vectors."""
        def with_bias(x):
            return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], -1)

        starts, ends = with_bias(self.start_mlp(vectors)), with_bias(self.end_mlp(vectors))
        scores = torch.einsum("bix,rxy,bjy->bijr", starts, self.biaffine, ends)  # (B, N, N, R + 1)
        return scores[..., :-1] - scores[..., -1:]

    def encoder_inputs(self) -> list[tuple[nn.Module, str, int]]:
        """The parameters that read the word vectors (see :meth:`taggers.Tagger.encoder_inputs`)."""
        return [(self.start_mlp[0], "weight", 1), (self.end_mlp[0], "weight", 1)]

    def gold(self, tag_lists: Sequence[Sequence[str]], device=None) -> list[list[tuple[int, int, int]]]:
        """The gold entities of every sentence as ``(first, last, type index)`` spans (ill-formed tag sequences
        are read as seqeval reads them, see :func:`structkd.schemes.tags_to_entities`)."""
        type_index = {k: r for r, k in enumerate(self.types)}
        gold = [[(e.start, e.end - 1, type_index[e.kind]) for e in tags_to_entities(tags, self.scheme)]
                for tags in tag_lists]
        too_wide = [(b, span) for b, spans in enumerate(gold) for span in spans
                    if self.max_width is not None and span[1] - span[0] + 1 > self.max_width]
        if too_wide:
            raise ValueError(f"gold entities wider than max_width={self.max_width} (sentence, span): {too_wide}")
        return gold

    def tags(self, dist: SpanSegmentation) -> list[list[str]]:
        return [spans_to_tags(spans, n, self.types, self.scheme) for spans, n in zip(dist.decode(), dist.lengths.tolist())]
