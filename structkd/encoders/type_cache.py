"""A cache of per-word-type vectors for decoding: a word's character-level vector depends on its characters
alone, so at inference it is computed once per word type, not once per token."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

PREFILL_BATCH = 1024

#: the steps of every torch optimizer in this process (a global post-step hook counts them): a fused step
#: (torch's fused AdamW, the trainer's) updates parameters in place without moving their version counters
_optimizer_steps = 0


def _count_step(optimizer, args, kwargs) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


register_optimizer_step_post_hook(_count_step)


def parameter_state(parameters: Iterable[torch.Tensor]) -> tuple:
    """What tells whether parameters changed since another call: the optimizer steps taken in this process and
    each parameter's storage and version counter (an in-place update, ``load_state_dict``, a move or a dtype
    conversion moves them).  Version counters alone miss fused optimizer steps: a cache keyed on them once kept
    the first dev evaluation's character vectors and CRF transitions for a whole training run.  An update that
    bypasses both (an in-place change of ``p.data`` outside any optimizer) is not seen."""
    return _optimizer_steps, tuple((p.data_ptr(), p._version) for p in parameters)


class WordTypeCache:
    """Rows of ``compute(words) -> (len(words), D)`` kept per word type while the weights it reads are
    unchanged.

    ``lookup`` returns ``(len(words), D)`` vectors, computing only the types it has not seen.  The cache is
    emptied when :func:`parameter_state` of ``parameters`` moves (an optimizer step, ``load_state_dict``) or
    when it would hold more than ``capacity`` types.  Meant for ``eval()`` mode under ``torch.no_grad()``, where
    ``compute`` is deterministic and nothing is differentiated.
    """

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._rows: dict[str, int] = {}
        self._table: torch.Tensor | None = None
        self._weights: tuple | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, words: Sequence[str], compute: Callable[[list[str]], torch.Tensor],
               parameters: Iterable[torch.Tensor], known: Sequence[str] = ()) -> torch.Tensor:
        """``(len(words), D)`` vectors of ``words``.  A new or emptied cache first computes those of ``known``
        (say, the vocabulary's words: a one-off cost, in batches of :data:`PREFILL_BATCH`)."""
        weights = parameter_state(parameters)
        missing = list(dict.fromkeys(w for w in words if w not in self._rows))
        if weights != self._weights or len(self._rows) + len(missing) > self.capacity:
            self._rows, self._table, self._weights = {}, None, weights
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
