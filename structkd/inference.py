"""Batched decoding in length order: sentences of similar length share a batch, so little of it is padding."""
from __future__ import annotations

from typing import Callable, Sequence


def decode_by_length(items: Sequence, lengths: Sequence[int], batch_size: int,
                     decode: Callable[[list], Sequence]) -> list:
    """``decode`` (a batch of items -> one output per item) over ``items`` in batches of ``batch_size`` items
    taken in order of ``lengths``; the outputs come back in the order of ``items``."""
    order = sorted(range(len(items)), key=lambda i: lengths[i])
    out: list = [None] * len(items)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        outputs = decode([items[i] for i in chunk])
        if len(outputs) != len(chunk):
            raise ValueError(f"decode gave {len(outputs)} outputs for a batch of {len(chunk)}")
        for i, output in zip(chunk, outputs):
            out[i] = output
    return out
