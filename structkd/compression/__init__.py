"""Compression of a teacher's transformer into a smaller student that inherits its weights.

* :mod:`~structkd.compression.compactors` -- compacted linear maps and masked LayerNorm;
* :mod:`~structkd.compression.schedule` -- when the masks are recomputed and which units they prune;
* :mod:`~structkd.compression.bert` -- weight-inherited distillation (WID) of a BERT encoder, its merge into a
  dense ``BertModel``, the layer-sliced and random baselines of the same shape.

This package needs nothing of ``taggers`` or ``parsers``: it works on the ``transformers`` model inside any
structkd encoder.
"""
from .bert import (
    STRATEGIES, BertShape, CompactedBert, Masks, NotBertError, check_bert, random_bert, spread_layers, target_shape,
)
from .compactors import CompactedLinear, MaskedLayerNorm
from .schedule import MaskSchedule, head_mask, keep_highest

__all__ = ["STRATEGIES", "BertShape", "CompactedBert", "CompactedLinear", "MaskSchedule", "MaskedLayerNorm", "Masks",
           "NotBertError", "check_bert", "head_mask", "keep_highest", "random_bert", "spread_layers", "target_shape"]
