"""Typed span segmentation ("NER as parsing"): substructures are typed spans ``(i, j, r)``.

Potentials ``s`` have shape ``(B, N, N, R)``: ``s[b, i, j, r]`` scores the span of tokens ``i..j``
(inclusive) with entity type ``r``, relative to leaving those tokens outside every entity
(``s(i, j, r) = s_teacher(i, j, r) - s_teacher(i, j, None)``). An output ``y`` is a set of
non-overlapping typed spans; every token outside all of them is an O segment of width 1 and score 0:

    Score(y) = sum_{(i, j, r) in y} s[i, j, r]
    log Z    = log alpha[n],  alpha[0] = 0,
               alpha[j + 1] = logsumexp(alpha[j],  logsumexp_{i <= j, r} alpha[i] + s[i, j, r])

(a semi-Markov forward recursion, ``O(n^2 R)``). Cells with ``j < i``, ``j >= length`` or, with a
maximum width ``K``, ``j - i + 1 > K`` never enter an output: their marginals are exactly 0 and any
value there (``-inf`` included) is ignored.

:func:`tag_marginals` and :func:`tag_pair_marginals` project the distribution onto the token and
adjacent-pair marginals of a BIO / BIOES tagger (the student of structural knowledge distillation),
exactly, from forward-backward tables in log space.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch_struct.semirings import LogSemiring

from ..decoders import best_spans
from ..schemes import detect_scheme
from .base import DynamicProgram, Factorization, length_mask


def span_mask(lengths: torch.Tensor, n: int, max_width: int | None = None) -> torch.Tensor:
    """``(B, n, n)`` bool mask of the spans that can occur: ``i <= j < lengths[b]`` and
    ``j - i + 1 <= max_width``."""
    pos = torch.arange(n, device=lengths.device)
    width = pos.view(1, n) - pos.view(n, 1) + 1  # [i, j] -> j - i + 1
    shape_ok = width >= 1 if max_width is None else (width >= 1) & (width <= max_width)
    inside = length_mask(lengths, n)
    return shape_ok.unsqueeze(0) & inside.unsqueeze(1)


def prefix_sums(semiring, potentials: torch.Tensor, max_width: int | None = None) -> torch.Tensor:
    """Semi-Markov forward table over ``(ssize, B, N, N, R)`` converted potentials.

    Returns ``alpha`` of shape ``(ssize, B, N + 1)``: ``alpha[..., k]`` is the semiring sum over the
    segmentations of tokens ``0..k-1`` (``alpha[..., 0]`` is the semiring one), by

        alpha[j + 1] = alpha[j]  (+)  (+)_{j - K < i <= j, r} alpha[i] (x) s[i, j, r].

    Only cells ``i <= j`` (and within width ``K``) are read; ``alpha[k]`` reads columns ``j < k`` only.
    """
    ssize, batch, n = potentials.shape[:3]
    alpha = [semiring.one_(potentials.new_empty(ssize, batch))]
    for j in range(n):
        lo = 0 if max_width is None else max(0, j + 1 - max_width)
        starts = torch.stack(alpha[lo:], -1)  # (ssize, B, j + 1 - lo)
        spans = semiring.times(starts.unsqueeze(-1), potentials[:, :, lo : j + 1, j])  # (ssize, B, w, R)
        alpha.append(semiring.sum(torch.cat([alpha[j].unsqueeze(-1), spans.flatten(-2)], -1)))
    return torch.stack(alpha, -1)


class SpanScan(DynamicProgram):
    """Forward algorithm over ``(ssize, B, N, N, R)`` span potentials, masked by ``lengths``.

    Cells outside :func:`span_mask` are set to the score 0 before the scan, so that whatever they
    hold (``-inf`` included) gets a zero gradient and cannot turn a semiring sum into NaN.
    """

    def __init__(self, semiring=LogSemiring, max_width: int | None = None):
        super().__init__(semiring)
        self.max_width = max_width

    def _semiring_sum(self, potentials, lengths):
        ssize, _, n = potentials.shape[:3]
        valid = span_mask(lengths, n, self.max_width).unsqueeze(-1)
        alpha = prefix_sums(self.semiring, potentials.masked_fill(~valid, 0.0), self.max_width)
        return alpha.gather(-1, lengths.view(1, -1, 1).expand(ssize, -1, 1)).squeeze(-1)


class SpanSegmentation(Factorization):
    """Distribution over sets of non-overlapping typed spans (see the module docstring).

    Parameters:
        log_potentials: ``(B, N, N, R)`` span scores ``s[b, i, j, r]`` (inclusive ``j``).
        lengths: ``(B,)`` sentence lengths (default: all ``N``).
        labels: optional names of the ``R`` entity types (used by :func:`tag_marginals`).
        max_width: forbid spans wider than this many tokens (default: no limit).
    """

    sentence_dims = 2

    struct = SpanScan

    def __init__(
        self, log_potentials: torch.Tensor, lengths: torch.Tensor | None = None, labels=None,
        max_width: int | None = None,
    ):
        if log_potentials.dim() != 4 or log_potentials.shape[1] != log_potentials.shape[2]:
            raise ValueError(
                f"SpanSegmentation: potentials must have shape (B, N, N, R), got {tuple(log_potentials.shape)}"
            )
        if max_width is not None and max_width < 1:
            raise ValueError(f"SpanSegmentation: max_width must be >= 1, got {max_width}")
        if labels is not None and len(labels) != log_potentials.shape[-1]:
            raise ValueError(
                f"SpanSegmentation: {len(labels)} labels {list(labels)} for {log_potentials.shape[-1]} span types"
            )
        self.max_width = max_width
        super().__init__(log_potentials, lengths, labels)

    @property
    def num_types(self) -> int:
        return self.log_potentials.shape[-1]

    def _struct(self, sr=None):
        return self.struct(sr if sr is not None else LogSemiring, max_width=self.max_width)

    def decode(self) -> list[list[tuple[int, int, int]]]:
        """The best output of each sentence: a sorted list of ``(i, j, r)`` spans, by
        :func:`structkd.decoders.best_spans` on the CPU (the spans of the max-semiring :attr:`argmax`)."""
        return best_spans(self.log_potentials.detach().cpu().double().numpy(), self.lengths.cpu().numpy(),
                          self.max_width)

    def to_parts(self, outputs: Sequence[Sequence[tuple[int, int, int]]]) -> torch.Tensor:
        """One list of ``(i, j, r)`` spans per sentence -> ``(B, N, N, R)`` 0/1 span indicators."""
        parts = torch.zeros_like(self.log_potentials)
        for b, spans in enumerate(outputs):
            for i, j, r in spans:
                parts[b, i, j, r] = 1
        return parts


# ----------------------------------------------------------------------------- projection onto tags
class _LogTables(NamedTuple):
    """Log-space forward-backward quantities of a :class:`SpanSegmentation` (``-inf`` = impossible)."""

    span: torch.Tensor  # (B, N, N, R) log P(span (i, j, r) in y)
    outside: torch.Tensor  # (B, N) log P(token m is O)
    start: torch.Tensor  # (B, N) log P(some segment starts at i), i.e. a boundary between i-1 and i


def _reverse_spans(potentials: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, N, N, R)`` -> the potentials of the reversed sentences: ``out[b, i, j] = x[b, L-1-j, L-1-i]``
    for ``i <= j < L = lengths[b]`` (cells past the length hold arbitrary entries of ``x``)."""
    batch, n = potentials.shape[:2]
    idx = (lengths.unsqueeze(-1) - 1 - torch.arange(n, device=lengths.device)).clamp(min=0)  # (B, N)
    rows = torch.arange(batch, device=lengths.device).view(batch, 1, 1)
    return potentials[rows, idx.unsqueeze(1), idx.unsqueeze(2)]


def _log_tables(dist: SpanSegmentation) -> _LogTables:
    """Forward (``alpha[k]``: prefix ``0..k-1``) and backward (``beta[k]``: suffix ``k..L-1``) log sums,
    the backward one being the forward table of the reversed sentences, and from them

        log P(i, j, r)   = alpha[i] + s[i, j, r] + beta[j + 1] - log Z
        log P(m is O)    = alpha[m] + beta[m + 1] - log Z
        log P(start at i) = alpha[i] + beta[i] - log Z.
    """
    pot, lengths = dist.log_potentials, dist.lengths
    n = pot.shape[1]
    valid = span_mask(lengths, n, dist.max_width).unsqueeze(-1)
    pot = pot.masked_fill(~valid, 0.0)
    alpha = prefix_sums(LogSemiring, pot.unsqueeze(0), dist.max_width)[0]  # (B, N + 1)
    reverse_alpha = prefix_sums(LogSemiring, _reverse_spans(pot, lengths).unsqueeze(0), dist.max_width)[0]
    beta = reverse_alpha.gather(1, (lengths.unsqueeze(-1) - torch.arange(n + 1, device=pot.device)).clamp(min=0))
    log_z = beta[:, :1]
    span = alpha[:, :n, None, None] + pot + beta[:, None, 1:, None] - log_z[:, :, None, None]
    return _LogTables(
        span=span.masked_fill(~valid, float("-inf")),
        outside=alpha[:, :n] + beta[:, 1:] - log_z,
        start=alpha[:, :n] + beta[:, :n] - log_z,
    )


def _shifted_diagonal(x: torch.Tensor, ds: int, de: int) -> torch.Tensor:
    """``(B, N, N, R)`` -> ``(B, N, R)``: ``out[b, m] = x[b, m + ds, m + de]``, ``-inf`` out of range
    (``-2 <= ds``, ``de <= 2``)."""
    n = x.shape[1]
    padded = F.pad(x, (0, 0, 2, 2, 2, 2), value=float("-inf"))
    return padded.diagonal(de - ds, 1, 2)[..., ds + 2 : ds + 2 + n].transpose(1, 2)


class _SpanSums(NamedTuple):
    """Cumulative log sums of the span log-marginals ``P[s, e]`` (each ``(B, N, N, R)``)."""

    span: torch.Tensor  # P[s, e]
    later_ends: torch.Tensor  # sum_{e' >= e} P[s, e']
    earlier_starts: torch.Tensor  # sum_{s' <= s} P[s', e]
    quadrant: torch.Tensor  # sum_{s' <= s, e' >= e} P[s', e']


def _span_sums(span: torch.Tensor) -> _SpanSums:
    later_ends = torch.logcumsumexp(span.flip(2), 2).flip(2)
    return _SpanSums(span, later_ends, torch.logcumsumexp(span, 1), torch.logcumsumexp(later_ends, 1))


# Token kinds: O, then per type S (single-token span), B (first of a longer span), E (last), I (inside).
_KINDS = ("S", "B", "E", "I")


def _kind_index(kind: str, num_types: int) -> torch.Tensor:
    """Indices of ``kind`` ("O" or one of :data:`_KINDS`) in the ``1 + 4R`` token-kind layout."""
    if kind == "O":
        return torch.tensor([0])
    return 1 + _KINDS.index(kind) * num_types + torch.arange(num_types)


def _token_kinds(tables: _LogTables, sums: _SpanSums) -> torch.Tensor:
    """``(B, N, 1 + 4R)`` log P(token m has kind k), kinds laid out as ``[O, S_r, B_r, E_r, I_r]``:

        S_r: P[m, m]   B_r: sum_{e > m} P[m, e]   E_r: sum_{s < m} P[s, m]   I_r: sum_{s < m < e} P[s, e].
    """
    return torch.cat(
        [
            tables.outside.unsqueeze(-1),
            _shifted_diagonal(sums.span, 0, 0),
            _shifted_diagonal(sums.later_ends, 0, 1),
            _shifted_diagonal(sums.earlier_starts, -1, 0),
            _shifted_diagonal(sums.quadrant, -1, 1),
        ],
        -1,
    )


def _pair_kinds(tables: _LogTables, sums: _SpanSums, token: torch.Tensor) -> torch.Tensor:
    """``(B, N, K, K)`` P(kind of token i-1 = k', kind of token i = k) for ``i >= 1`` (row ``i = 0`` is 0).

    Inside one span (tokens i-1 and i both covered by span (s, e, r)):
        B->E: P[i-1, i]   B->I: sum_{e > i} P[i-1, e]   I->E: sum_{s < i-1} P[s, i]   I->I: sum_{s < i-1, e > i} P[s, e]
    Across a segment boundary, the segment ending at i-1 (kind O, S or E) and the one starting at i
    (kind O, S or B) are independent given the boundary (the model is semi-Markov), so
        P(a at i-1, b at i) = P(a at i-1) P(b at i) / P(a segment starts at i).
    """
    batch, n, num_kinds = token.shape
    num_types = (num_kinds - 1) // 4
    kind = {k: _kind_index(k, num_types) for k in ("O",) + _KINDS}
    logs = token.new_full((batch, n, num_kinds, num_kinds), float("-inf"))
    inside = {("B", "E"): (sums.span, -1, 0), ("B", "I"): (sums.later_ends, -1, 1),
              ("I", "E"): (sums.earlier_starts, -2, 0), ("I", "I"): (sums.quadrant, -2, 1)}
    for (prev, cur), (table, ds, de) in inside.items():
        logs[:, :, kind[prev], kind[cur]] = _shifted_diagonal(table, ds, de)
    ends = torch.cat([kind["O"], kind["S"], kind["E"]])
    starts = torch.cat([kind["O"], kind["S"], kind["B"]])
    left = F.pad(token[:, :-1, ends], (0, 0, 1, 0), value=float("-inf"))  # token i-1, aligned with i
    across = left.unsqueeze(-1) + token[:, :, None, starts] - tables.start[:, :, None, None]
    logs[:, :, ends.unsqueeze(-1), starts] = across
    return logs.exp()


def _tag_map(tags: Sequence[str], types: Sequence[str]) -> torch.Tensor:
    """``(1 + 4R, T)`` 0/1 matrix folding token kinds into tags.

    The scheme is BIOES if a tag starts with "S-" or "E-", else BIO (where S folds into B and E into I).
    Raises ValueError on a tag that is not "O" or prefix + a type, on a duplicate, and on a missing tag.
    """
    bioes = detect_scheme(tags) == "BIOES"
    folds = {k: k for k in _KINDS} if bioes else {"S": "B", "B": "B", "E": "I", "I": "I"}
    column = {}
    for t, tag in enumerate(tags):
        prefix, _, name = tag.partition("-")
        if tag != "O" and (prefix not in folds.values() or name not in types):
            raise ValueError(
                f"tag {tag!r} is neither 'O' nor one of {sorted(set(folds.values()))} + '-' + a type of {list(types)}"
            )
        if tag in column:
            raise ValueError(f"tag {tag!r} occurs twice")
        column[tag] = t
    needed = ["O"] + [f"{folds[k]}-{name}" for k in _KINDS for name in types]
    mapping = torch.zeros(len(needed), len(tags))
    for k, tag in enumerate(needed):
        if tag not in column:
            raise ValueError(f"tag {tag!r} is missing from {list(tags)}")
        mapping[k, column[tag]] = 1
    return mapping


def check_span_tags(tags: Sequence[str], types: Sequence[str]) -> None:
    """Raise ValueError unless ``tags`` is a BIO or BIOES tag set of exactly the entity ``types`` (what
    :func:`tag_marginals` needs)."""
    _tag_map(tags, types)


def _type_names(dist: SpanSegmentation, types: Sequence[str] | None) -> Sequence[str]:
    """``types``, or the distribution's ``labels`` when omitted; one name per span type."""
    types = dist.labels if types is None else types
    if types is None:
        raise ValueError("the span types need names: pass types=... or build the distribution with labels=...")
    if len(types) != dist.num_types:
        raise ValueError(f"got {len(types)} type names {list(types)} for {dist.num_types} span types")
    return types


@torch.no_grad()
def tag_marginals(
    dist: SpanSegmentation, tags: Sequence[str], types: Sequence[str] | None = None
) -> torch.Tensor:
    """``(B, N, T)`` token marginals ``P(y_m = tags[t])`` of the BIO / BIOES tagging of ``dist``.

    ``types[r]`` names span type ``r`` (default: ``dist.labels``). BIOES: S-R = P(span (m, m, R));
    B-R / E-R = mass of the R spans of width > 1 starting / ending at m; I-R = mass of the R spans
    with start < m < end; O = mass of no span covering m. BIO folds S into B and E into I.
    Zero past each length.
    The result is a constant (a distillation target): no gradient flows back to ``dist``.
    """
    mapping = _tag_map(tags, _type_names(dist, types)).to(dist.log_potentials)
    tables = _log_tables(dist)
    token = _token_kinds(tables, _span_sums(tables.span)).exp()
    mask = length_mask(dist.lengths, token.shape[1]).unsqueeze(-1)
    return torch.where(mask, token @ mapping, 0.0)


@torch.no_grad()
def tag_pair_marginals(
    dist: SpanSegmentation, tags: Sequence[str], types: Sequence[str] | None = None
) -> torch.Tensor:
    """``(B, N, T, T)`` pair marginals ``pair[b, i, p, c] = P(y_{i-1} = tags[p], y_i = tags[c])``.

    Laid out as the potentials of :class:`~structkd.structs.chain.LinearChainCRF`: at ``i = 0`` the
    chain leaves a virtual state sharing index 0, so ``pair[b, 0, 0, c] = P(y_0 = c)`` and
    ``pair[b, 0, p > 0] = 0``; zero past each length. ``pair.sum(-2)`` is :func:`tag_marginals`, and
    for ``1 <= i < length`` ``pair[:, i].sum(-1)`` is :func:`tag_marginals` at ``i - 1``.
    Constant, like :func:`tag_marginals`.
    """
    mapping = _tag_map(tags, _type_names(dist, types)).to(dist.log_potentials)
    tables = _log_tables(dist)
    sums = _span_sums(tables.span)
    token = _token_kinds(tables, sums)
    pair = torch.einsum("bnkl,kp,lc->bnpc", _pair_kinds(tables, sums, token), mapping, mapping)
    pair[:, 0, 0] = token[:, 0].exp() @ mapping
    mask = length_mask(dist.lengths, pair.shape[1]).view(*pair.shape[:2], 1, 1)
    return torch.where(mask, pair, 0.0)
