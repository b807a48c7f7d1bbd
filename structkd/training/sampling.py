"""What one epoch trains on: the batches the :class:`~structkd.training.Trainer` draws.

:class:`Shuffled` is a pass over every example (gold training, distillation without transfer text).
:class:`GoldTransferMix` is for distillation with much more transfer text than gold: an epoch is a pass over the
gold sentences plus ``ratio`` transfer batches for every gold batch, each batch all gold or all transfer, in
random order.  The transfer batches walk through a fixed shuffle of the transfer sentences, epoch after epoch, so
that every transfer sentence is used before any is used twice.  Both are functions of the seed and the epoch
alone, so a resumed run draws the same batches as an uninterrupted one.

Example::

    >>> mix = GoldTransferMix(list(range(100)), list(range(100, 1100)), ratio=2.0)
    >>> batches = mix.epoch_batches(1, 10, seed=0)
    >>> sum(b[0] < 100 for b in batches), sum(b[0] >= 100 for b in batches)
    (10, 20)
"""
from __future__ import annotations

import math
import random
from typing import Callable, Sequence


def batches(examples: Sequence, batch_size: int, rng: random.Random, sort_key=None) -> list[list]:
    """Shuffled batches; with ``sort_key``, examples of similar size share a batch (less padding).

    Examples are shuffled, cut into pools of 50 batches, each pool sorted by ``sort_key`` and cut into
    batches, and the batches shuffled again.
    """
    order = list(range(len(examples)))
    rng.shuffle(order)
    out = []
    pool = 50 * batch_size
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        if sort_key is not None:
            chunk.sort(key=lambda i: sort_key(examples[i]))
        out += [[examples[i] for i in chunk[k : k + batch_size]] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def epoch_rng(seed: int, epoch: int) -> random.Random:
    return random.Random(seed * 1000 + epoch)


class Shuffled:
    """Every example once an epoch, in :func:`batches`."""

    def __init__(self, examples: Sequence, sort_key: Callable | None = None):
        self.examples, self.sort_key = examples, sort_key

    def batches_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.examples) / batch_size)

    def epoch_batches(self, epoch: int, batch_size: int, seed: int) -> list[list]:
        return batches(self.examples, batch_size, epoch_rng(seed, epoch), self.sort_key)


class GoldTransferMix:
    """Gold batches and ``ratio`` times as many transfer batches an epoch (see the module docstring).

    Args:
        gold, transfer: the examples with and without gold annotation.
        ratio: transfer batches per gold batch (> 0); the transfer batches of an epoch are
            ``round(ratio * gold batches)``.
        sort_key: as in :func:`batches`.
    """

    def __init__(self, gold: Sequence, transfer: Sequence, ratio: float, sort_key: Callable | None = None):
        if not gold or not transfer:
            raise ValueError("a gold/transfer mix needs gold and transfer examples")
        if ratio <= 0:
            raise ValueError(f"the transfer ratio must be positive, got {ratio}")
        self.gold, self.transfer, self.ratio, self.sort_key = gold, transfer, ratio, sort_key

    def transfer_batches(self, batch_size: int) -> int:
        return round(self.ratio * math.ceil(len(self.gold) / batch_size))

    def batches_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.gold) / batch_size) + self.transfer_batches(batch_size)

    def epoch_batches(self, epoch: int, batch_size: int, seed: int) -> list[list]:
        rng = epoch_rng(seed, epoch)
        gold = batches(self.gold, batch_size, rng, self.sort_key)
        wanted = self.transfer_batches(batch_size) * batch_size
        start = (epoch - 1) * wanted
        order = self._transfer_order(seed, start, wanted)
        transfer = batches([self.transfer[i] for i in order], batch_size, rng, self.sort_key)
        out = gold + transfer
        rng.shuffle(out)
        return out

    def _transfer_order(self, seed: int, start: int, count: int) -> list[int]:
        """Transfer indices ``start .. start + count`` of the endless walk through one shuffle of them per pass
        (pass ``p`` is shuffled with seed ``(seed, p)``)."""
        n, out = len(self.transfer), []
        position = start
        while len(out) < count:
            walk, offset = divmod(position, n)
            order = list(range(n))
            random.Random(f"{seed}-transfer-{walk}").shuffle(order)
            take = order[offset : offset + count - len(out)]
            out += take
            position += len(take)
        return out
