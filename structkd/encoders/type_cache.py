"""A cache of per-word-type vectors for decoding: a word's character-level vector depends on its characters
alone, so at inference it is computed once per word type, not once per token."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch

PREFILL_BATCH = 1024


class ParameterSnapshot:
    """The values of some parameters at one moment, to tell later whether any of them changed: an optimizer
    step, ``load_state_dict``, a move or a dtype conversion.

    It compares values, not version counters: torch's fused AdamW updates parameters in place without moving
    their version counters, so a cache keyed on them kept the vectors of weights several epochs old.  Meant
    for small parameter sets (a character encoder, CRF transitions): a snapshot is a copy of them."""

    def __init__(self, parameters: Iterable[torch.Tensor]):
        self.values = [p.detach().clone() for p in parameters]

    def matches(self, parameters: Iterable[torch.Tensor]) -> bool:
        """Whether ``parameters`` hold the snapshot's values (same dtype, device and shape); NaN never matches."""
        parameters = list(parameters)
        return len(parameters) == len(self.values) and all(
            p.dtype == v.dtype and p.device == v.device and p.shape == v.shape and torch.equal(p.detach(), v)
            for p, v in zip(parameters, self.values))


class WordTypeCache:
    """Rows of ``compute(words) -> (len(words), D)`` kept per word type while the weights it reads are
    unchanged.

    ``lookup`` returns ``(len(words), D)`` vectors, computing only the types it has not seen.  The cache is
    emptied when any of ``parameters`` holds other values than when it was filled (an optimizer step or
    ``load_state_dict``; see :class:`ParameterSnapshot`) or would hold more than ``capacity`` types.  Meant for
    ``eval()`` mode under ``torch.no_grad()``, where ``compute`` is deterministic and nothing is differentiated.
    """

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._rows: dict[str, int] = {}
        self._table: torch.Tensor | None = None
        self._weights: ParameterSnapshot | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, words: Sequence[str], compute: Callable[[list[str]], torch.Tensor],
               parameters: Iterable[torch.Tensor], known: Sequence[str] = ()) -> torch.Tensor:
        """``(len(words), D)`` vectors of ``words``.  A new or emptied cache first computes those of ``known``
        (say, the vocabulary's words: a one-off cost, in batches of :data:`PREFILL_BATCH`)."""
        parameters = list(parameters)
        missing = list(dict.fromkeys(w for w in words if w not in self._rows))
        stale = self._weights is None or not self._weights.matches(parameters)
        if stale or len(self._rows) + len(missing) > self.capacity:
            self._rows, self._table, self._weights = {}, None, ParameterSnapshot(parameters)
            known = list(dict.fromkeys(known))[: self.capacity // 2]
            for start in range(0, len(known), PREFILL_BATCH):
                self._store(known[start : start + PREFILL_BATCH], compute(known[start : start + PREFILL_BATCH]))
            missing = list(dict.fromkeys(w for w in words if w not in self._rows))
        if missing:
            self._store(missing, compute(missing))
        return self._table[torch.tensor([self._rows[w] for w in words], device=self._table.device)]

    def _store(self, words: list[str], vectors: torch.Tensor) -> None:
        used = len(self._rows)
        if self._table is None or used + len(words) > len(self._table):  # grow by doubling
            table = vectors.new_empty(max(2 * used, used + len(words), 1024), vectors.shape[-1])
            if self._table is not None:
                table[:used] = self._table[:used]
            self._table = table
        self._table[used : used + len(words)] = vectors
        self._rows.update((w, used + i) for i, w in enumerate(words))
