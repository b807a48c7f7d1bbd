"""The inputs of an exported encoder graph, built from words without torch (see :mod:`structkd.encoders.export`
for what each graph takes).

* :class:`BiLSTMInputs`: the encoder's word, pretrained-word and character vocabularies (its saved JSON files);
* :class:`SubwordInputs`: the model's fast tokenizer (``tokenizer.json``, read with the ``tokenizers`` library)
  and the windows of :mod:`structkd.subwords`.

Each is called on ``B`` token lists and returns a dict of int64 NumPy arrays named as the graph's inputs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..subwords import group_pieces, windows
from ..vocab import CHARS_FILE, PRETRAINED_FILE, WORDS_FILE, Vocab, batch_lengths, char_ids, pad_array

TOKENIZER_FILE = "tokenizer.json"  #: a fast tokenizer's file, as transformers saves it


def read_vocab(folder: Path, name: str) -> Vocab:
    return Vocab.from_dict(json.loads((folder / name).read_text(encoding="utf-8")))


class BiLSTMInputs:
    """``word_ids``, ``pretrained_ids`` and ``char_ids`` (as the spec says the graph has them) and ``lengths``.

    A word's characters are looked up as :class:`structkd.encoders.BiLSTMEncoder` looks them up (an empty
    word reads as the single unknown character); ``char_ids`` is ``(B, N, L)``, ``L`` the longest word."""

    def __init__(self, folder: Path, spec: dict):
        self.words = read_vocab(folder, WORDS_FILE)
        self.pretrained = read_vocab(folder, PRETRAINED_FILE) if spec["pretrained"] else None
        self.chars = read_vocab(folder, CHARS_FILE) if spec["chars"] else None

    def __call__(self, sentences: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        lengths = batch_lengths(sentences)
        inputs = {"word_ids": pad_array([self.words.indices(s) for s in sentences])}
        if self.pretrained is not None:
            inputs["pretrained_ids"] = pad_array([self.pretrained.indices(s) for s in sentences])
        if self.chars is not None:
            ids = [[char_ids(self.chars, w) for w in s] for s in sentences]
            chars = np.zeros((len(ids), max(lengths), max(len(w) for s in ids for w in s)), dtype=np.int64)
            for b, sentence in enumerate(ids):
                for i, word in enumerate(sentence):
                    chars[b, i, :len(word)] = word
            inputs["char_ids"] = chars
        inputs["lengths"] = np.array(lengths, dtype=np.int64)
        return inputs


class SubwordInputs:
    """``input_ids`` and ``attention_mask`` of the subword windows, ``window_of`` and ``position_of`` (each
    word's first subword) and ``lengths``, as :class:`structkd.encoders.TransformerEncoder` builds them."""

    def __init__(self, folder: Path, spec: dict):
        from tokenizers import Tokenizer  # the fast tokenizers' own library: no torch, no transformers

        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.spec = spec

    def __call__(self, sentences: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        lengths = batch_lengths(sentences)
        spec = self.spec
        encodings = self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True,
                                                add_special_tokens=False)
        pieces = [group_pieces(s, e.ids, e.word_ids, spec["unk_id"]) for s, e in zip(sentences, encodings)]
        planned = windows(pieces, spec["prefix"], spec["suffix"], spec["window"], spec["stride"])
        return {"input_ids": pad_array(planned.inputs, spec["pad_id"]),
                "attention_mask": pad_array([[1] * len(x) for x in planned.inputs]),
                "window_of": pad_array(planned.window_of), "position_of": pad_array(planned.position_of),
                "lengths": np.array(lengths, dtype=np.int64)}


def build_inputs(folder: Path, spec: dict):
    """The input builder of an encoder graph described by ``spec`` (``preprocessing`` of
    :mod:`structkd.encoders.export`), its files in ``folder``."""
    kinds = {"bilstm": BiLSTMInputs, "transformer": SubwordInputs}
    if spec.get("kind") not in kinds:
        raise ValueError(f"unknown encoder inputs {spec.get('kind')!r}; choose from {sorted(kinds)}")
    return kinds[spec["kind"]](folder, spec)
