"""Vocabularies (token <-> index) and the batching of token lists into index tensors.

A :class:`Vocab` serves words and characters (with a padding and an unknown token) as well as labels
(with neither: an unknown label is an error). It serialises to a JSON-able dict.

Importing this module imports no torch (the ONNX predictor, :mod:`structkd.serve`, looks words up with it);
the functions that return tensors import it when called.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

PAD = "<pad>"
UNK = "<unk>"
#: the files a BiLSTM encoder keeps its vocabularies in (read by the encoder and by the ONNX predictor)
WORDS_FILE, CHARS_FILE, PRETRAINED_FILE = "words.json", "chars.json", "pretrained_words.json"


class Vocab:
    """A fixed token list; ``index(token)`` is the token's position in it.

    Parameters:
        tokens: the tokens, in index order after the special tokens; no duplicates.
        pad: the padding token (index 0 when given), or None.
        unk: the token that stands for every unknown token (the next index), or None, in which case
            looking up an unknown token raises KeyError.
        lowercase: lowercase every token before storing and before looking it up.
    """

    def __init__(self, tokens: Iterable[str], pad: str | None = PAD, unk: str | None = UNK, lowercase: bool = False):
        self.pad, self.unk, self.lowercase = pad, unk, lowercase
        specials = [t for t in (pad, unk) if t is not None]
        self.tokens: list[str] = specials + [self.normalise(t) for t in tokens]
        self._index = {t: i for i, t in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            duplicates = sorted(t for t, c in Counter(self.tokens).items() if c > 1)
            raise ValueError(f"Vocab: duplicate tokens {duplicates}")
        self.pad_index = None if pad is None else self._index[pad]
        self.unk_index = None if unk is None else self._index[unk]

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None,
              pad: str | None = PAD, unk: str | None = UNK, lowercase: bool = False) -> "Vocab":
        """The tokens of ``sequences`` seen at least ``min_freq`` times, most frequent first (ties in order
        of first appearance), at most ``max_size`` of them besides ``pad`` and ``unk``."""
        counts = Counter(t.lower() if lowercase else t for seq in sequences for t in seq)
        for special in (pad, unk):
            counts.pop(special, None)
        kept = [t for t, c in counts.most_common(max_size) if c >= min_freq]
        return cls(kept, pad=pad, unk=unk, lowercase=lowercase)

    def normalise(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return self.normalise(token) in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, pad={self.pad!r}, unk={self.unk!r}, lowercase={self.lowercase})"

    def index(self, token: str) -> int:
        """The index of ``token``; ``unk_index`` if it is unknown (KeyError when there is no unk)."""
        found = self._index.get(self.normalise(token), self.unk_index)
        if found is None:
            raise KeyError(f"unknown token {token!r} (the vocabulary has no unknown token; known: {self.tokens[:20]})")
        return found

    def indices(self, tokens: Iterable[str]) -> list[int]:
        return [self.index(t) for t in tokens]

    def token(self, index: int) -> str:
        return self.tokens[index]

    def tensor(self, sequences: Sequence[Sequence[str]], device=None) -> "torch.Tensor":
        """``(B, N)`` long indices of ``B`` token lists, padded with ``pad_index`` (0 when there is no pad)."""
        return pad_indices([self.indices(s) for s in sequences], 0 if self.pad_index is None else self.pad_index,
                           device)

    def to_dict(self) -> dict:
        """A JSON-able dict that :meth:`from_dict` turns back into an equal vocabulary."""
        specials = sum(t is not None for t in (self.pad, self.unk))
        return {"tokens": self.tokens[specials:], "pad": self.pad, "unk": self.unk, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        return cls(data["tokens"], pad=data["pad"], unk=data["unk"], lowercase=data["lowercase"])


def pad_array(sequences: Sequence[Sequence[int]], pad_value: int = 0) -> np.ndarray:
    """``B`` lists of ints -> a ``(B, max length)`` int64 array padded with ``pad_value``."""
    out = np.full((len(sequences), max((len(s) for s in sequences), default=0)), pad_value, dtype=np.int64)
    for b, row in enumerate(sequences):
        out[b, :len(row)] = row
    return out


def pad_indices(sequences: Sequence[Sequence[int]], pad_value: int, device=None) -> "torch.Tensor":
    """:func:`pad_array` as a long tensor on ``device``."""
    import torch

    return torch.from_numpy(pad_array(sequences, pad_value)).to(device)


def char_ids(chars: Vocab, word: str) -> list[int]:
    """The character indices of ``word``; an empty word reads as the single unknown character."""
    return chars.indices(word) or [chars.unk_index]


def batch_lengths(sentences: Sequence[Sequence[str]]) -> list[int]:
    """The lengths of a batch of token lists; raises ValueError on an empty batch or sentence."""
    if len(sentences) == 0:
        raise ValueError("an empty batch: expected at least one sentence")
    if isinstance(sentences[0], str):
        raise TypeError("expected a batch of token lists (list[list[str]]), got a list of strings")
    empty = [b for b, s in enumerate(sentences) if len(s) == 0]
    if empty:
        raise ValueError(f"sentences {empty} of the batch are empty: every sentence needs at least one token")
    return [len(s) for s in sentences]


def sentence_lengths(sentences: Sequence[Sequence[str]], device=None) -> "torch.Tensor":
    """``(B,)`` long lengths of a batch of token lists (:func:`batch_lengths`)."""
    import torch

    return torch.tensor(batch_lengths(sentences), dtype=torch.long, device=device)
