"""The word encoders as tensor-in, tensor-out modules for ONNX export (:mod:`structkd.export`).

An encoder called on words does its own preprocessing (vocabulary lookups, subword windows) in Python; an
exported graph cannot, so each encoder is split into the arrays of :class:`structkd.serve.inputs` (computed
without torch) and a graph over them that gives the same ``(B, N, H)`` word vectors in eval mode:

* :class:`BiLSTMGraph`: inputs ``word_ids (B, N)``, ``pretrained_ids (B, N)`` (with pretrained vectors),
  ``char_ids (B, N, L)`` (with a character encoder) and ``lengths (B,)``;
* :class:`TransformerGraph`: inputs ``input_ids (W, L)``, ``attention_mask (W, L)`` (the subword windows),
  ``window_of (B, N)``, ``position_of (B, N)`` (where each word's first subword is) and ``lengths (B,)``.

Packed sequences do not export (SuPar #84), so :class:`PaddedBiLSTM` runs a bidirectional LSTM on padded
inputs with each sentence reversed within its own length for the backward direction: at every position
inside a sentence it computes what ``pack_padded_sequence`` does.
"""
from __future__ import annotations

import torch
from torch import nn

from .bilstm import BiLSTMEncoder, CharLSTM
from .transformer import TransformerEncoder


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, N, D)`` -> each row's first ``lengths[b]`` positions in reverse order (the rest left in place)."""
    positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    index = torch.where(positions < lengths.unsqueeze(-1), lengths.unsqueeze(-1) - 1 - positions, positions)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class PaddedBiLSTM(nn.Module):
    """A bidirectional, batch-first :class:`torch.nn.LSTM` (any number of layers; eval mode: no dropout) on padded
    ``(B, N, D)`` inputs and ``(B,)`` lengths, without packing.

    Each layer runs one single-layer LSTM per direction with the weights of ``lstm``: forward over the padded
    rows (padding comes after every word), backward over :func:`reverse_within` rows, whose output is reversed
    back.  Returns the ``(B, N, 2H)`` outputs (arbitrary past each length) of the last layer.
    """

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        if not (lstm.bidirectional and lstm.batch_first):
            raise ValueError("PaddedBiLSTM takes a bidirectional, batch-first LSTM")
        self.layers = nn.ModuleList()
        for layer in range(lstm.num_layers):
            directions = nn.ModuleList()
            for suffix in ("", "_reverse"):
                single = nn.LSTM(lstm.input_size if layer == 0 else 2 * lstm.hidden_size, lstm.hidden_size,
                                 batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    setattr(single, f"{name}_l0", getattr(lstm, f"{name}_l{layer}{suffix}"))
                directions.append(single)
            self.layers.append(directions)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for forward, backward in self.layers:
            ahead = forward(x)[0]
            behind = reverse_within(backward(reverse_within(x, lengths))[0], lengths)
            x = torch.cat([ahead, behind], -1)
        return x


class CharGraph(nn.Module):
    """``(B, N, L)`` character ids (0 = padding) -> ``(B, N, char_size)`` character-level word vectors, as
    :class:`~structkd.encoders.bilstm.CharCNN` or :class:`~structkd.encoders.bilstm.CharLSTM` compute them
    (arbitrary on padding words)."""

    def __init__(self, chars: nn.Module):
        super().__init__()
        self.chars = chars
        self.lstm = PaddedBiLSTM(chars.lstm) if isinstance(chars, CharLSTM) else None

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        batch, n, width = char_ids.shape
        ids = char_ids.reshape(batch * n, width)
        sizes = (ids != 0).sum(-1).clamp_min(1)  # a padding word reads one padding character
        if self.lstm is None:
            vectors = self.chars(ids, sizes)
        else:
            out = self.lstm(self.chars.embed(ids), sizes)  # (W, L, 2H)
            half = out.shape[-1] // 2
            last = out.gather(1, (sizes - 1).view(-1, 1, 1).expand(-1, 1, half))[:, 0]  # forward: last character
            vectors = torch.cat([last, out[:, 0, half:]], -1)  # backward: its state at the first character
        return vectors.reshape(batch, n, -1)


class BiLSTMGraph(nn.Module):
    """:class:`~structkd.encoders.BiLSTMEncoder` over index arrays (see the module docstring) -> ``(B, N, 2H)``
    word vectors, zero past each length."""

    def __init__(self, encoder: BiLSTMEncoder):
        super().__init__()
        self.encoder = encoder
        self.chars = None if encoder.char_encoder is None else CharGraph(encoder.char_encoder)
        self.lstm = PaddedBiLSTM(encoder.lstm)
        self.input_names = ["word_ids"] + ["pretrained_ids"] * (encoder.pretrained_embed is not None) \
            + ["char_ids"] * (self.chars is not None) + ["lengths"]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, inputs))
        lengths = named["lengths"]
        features = [self.encoder.word_embed(named["word_ids"])]
        if "pretrained_ids" in named:
            features.append(self.encoder.pretrained_embed(named["pretrained_ids"]))
        if self.chars is not None:
            features.append(self.chars(named["char_ids"]))
        inside = torch.arange(features[0].shape[1], device=lengths.device) < lengths.unsqueeze(-1)
        x = torch.where(inside.unsqueeze(-1), torch.cat(features, -1), 0.0)
        return torch.where(inside.unsqueeze(-1), self.lstm(x, lengths), 0.0)


class TransformerGraph(nn.Module):
    """:class:`~structkd.encoders.TransformerEncoder` over subword windows (see the module docstring) ->
    ``(B, N, H)`` first-subword vectors, zero past each length."""

    input_names = ["input_ids", "attention_mask", "window_of", "position_of", "lengths"]

    def __init__(self, encoder: TransformerEncoder):
        super().__init__()
        self.model = encoder.model

    def forward(self, input_ids, attention_mask, window_of, position_of, lengths) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (W, L, H)
        vectors = hidden[window_of, position_of]
        inside = torch.arange(vectors.shape[1], device=lengths.device) < lengths.unsqueeze(-1)
        return vectors * inside.unsqueeze(-1)


def encoder_graph(encoder: nn.Module) -> nn.Module:
    """The graph of ``encoder`` (its ``input_names`` say what it takes, in order)."""
    if isinstance(encoder, BiLSTMEncoder):
        return BiLSTMGraph(encoder)
    if isinstance(encoder, TransformerEncoder):
        return TransformerGraph(encoder)
    raise ValueError(f"no ONNX graph for the encoder {type(encoder).__name__}")


def preprocessing(encoder: nn.Module) -> dict:
    """The JSON-able description of the inputs :class:`structkd.serve.inputs` builds for ``encoder``'s graph
    (the vocabularies or the tokenizer are the encoder's saved assets)."""
    if isinstance(encoder, BiLSTMEncoder):
        return {"kind": "bilstm", "chars": encoder.chars is not None, "pretrained": encoder.pretrained is not None}
    tokenizer = encoder.tokenizer
    return {"kind": "transformer", "prefix": encoder.prefix, "suffix": encoder.suffix, "window": encoder.window,
            "stride": encoder.stride, "pad_id": tokenizer.pad_token_id or 0, "unk_id": tokenizer.unk_token_id}
