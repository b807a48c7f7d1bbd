"""Word encoders shared by taggers and parsers.

Every encoder is an ``nn.Module`` called on a batch of pre-tokenised sentences (``list[list[str]]``)
that returns ``(B, N, H)`` word vectors (zero past each length) and ``(B,)`` lengths, with
``H = encoder.output_size``; a model does not care which encoder it has. Each one also offers
``config()`` (JSON-able), ``save_assets(folder)`` and ``from_config(config, folder)`` for
:mod:`structkd.persistence`, and :func:`build_encoder` rebuilds any of them from its config.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .bilstm import BiLSTMEncoder
from .transformer import DEFAULT_MODEL, TransformerEncoder

ENCODERS = {cls.kind: cls for cls in (TransformerEncoder, BiLSTMEncoder)}


def build_encoder(config: dict, folder: str | Path) -> nn.Module:
    """Rebuild the encoder described by ``config`` (from ``encoder.config()``) with the files in ``folder``."""
    kind = config.get("kind")
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose from {sorted(ENCODERS)}")
    return ENCODERS[kind].from_config(config, folder)


__all__ = ["BiLSTMEncoder", "TransformerEncoder", "DEFAULT_MODEL", "ENCODERS", "build_encoder"]
