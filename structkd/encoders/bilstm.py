"""A BiLSTM word encoder: word embeddings (+ pretrained word vectors) + a character encoder (CNN or BiLSTM)
-> a stacked BiLSTM."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from ..persistence import read_json, write_json
from ..vocab import CHARS_FILE, PRETRAINED_FILE, WORDS_FILE, Vocab, char_ids, pad_indices, sentence_lengths
from .type_cache import WordTypeCache
from .vectors import pretrained_vectors, pretrained_vocabulary

CHAR_ENCODERS = ("cnn", "lstm", None)


def run_lstm(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor, padded: bool | None = None):
    """Run ``lstm`` over ``(B, N, D)`` padded inputs of ``(B,)`` lengths (all >= 1).

    Returns the ``(B, N, 2H)`` outputs (zero past each length) and the ``(B, 2H)`` final states of the last
    layer (forward then backward).  A batch without padding (every length ``N``, as at batch 1; ``padded``
    says so when the caller knows) runs unpacked: the same values, without the cost of packing."""
    if not (bool((lengths < inputs.shape[1]).any()) if padded is None else padded):
        outputs, (final, _) = lstm(inputs)
    else:
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, (final, _) = lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
    return outputs, torch.cat([final[-2], final[-1]], -1)


class CharCNN(nn.Module):
    """``(W, L)`` character ids of ``W`` words -> ``(W, out_size)``: convolution, then max over the characters."""

    def __init__(self, num_chars: int, char_dim: int, out_size: int, kernel: int = 3):
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, out_size, kernel, padding=kernel // 2)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        features = self.conv(self.embed(chars).transpose(1, 2)).transpose(1, 2)  # (W, L, out)
        inside = torch.arange(chars.shape[1], device=chars.device) < lengths.unsqueeze(-1)
        return features.masked_fill(~inside.unsqueeze(-1), float("-inf")).max(1).values


class CharLSTM(nn.Module):
    """``(W, L)`` character ids of ``W`` words -> ``(W, out_size)``: the final states of a char BiLSTM."""

    def __init__(self, num_chars: int, char_dim: int, out_size: int):
        super().__init__()
        if out_size % 2:
            raise ValueError(f"a char BiLSTM needs an even char_size (two directions), got {out_size}")
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.lstm = nn.LSTM(char_dim, out_size // 2, batch_first=True, bidirectional=True)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return run_lstm(self.lstm, self.embed(chars), lengths)[1]


class BiLSTMEncoder(nn.Module):
    """Word vectors from a BiLSTM over word embeddings concatenated with pretrained word vectors and
    character-level word vectors.

    Parameters:
        words: the word vocabulary (with pad and unk; its ``lowercase`` decides how words are looked up).
        pretrained: the vocabulary of the pretrained word vectors (lower-cased, with pad and unk), or None for
            none; their ``(len(pretrained), pretrained_dim)`` table is a parameter (``pretrained_embed``),
            filled by :meth:`from_corpus` (or by the saved weights), its pad and unk rows zero.
        pretrained_dim: the size of the pretrained vectors.
        freeze_pretrained: keep the pretrained vectors fixed during training.
        word_dropout: in training, each word's index into ``words`` is replaced by the unknown word's with this
            probability, so that the unknown-word vector is trained (pretrained vectors and characters are kept).
        chars: the character vocabulary (with pad and unk); unused when ``char_encoder`` is None.
        word_dim: word embedding size.
        char_encoder: "cnn" (convolution + max pooling), "lstm" (char BiLSTM) or None (words only).
        char_dim, char_size, char_kernel: character embedding size, character-level word vector size,
            CNN kernel width.
        hidden_size: LSTM size per direction (the output has ``2 * hidden_size`` features).
        num_layers: stacked BiLSTM layers.
        dropout: on the BiLSTM's input and between its layers.

    Call it on ``B`` pre-tokenised sentences (``list[list[str]]``): it returns ``(B, N, 2 * hidden_size)``
    word vectors (zero past each length) and ``(B,)`` lengths.
    """

    kind = "bilstm"

    def __init__(self, words: Vocab, chars: Vocab | None = None, word_dim: int = 100, char_encoder: str | None = "cnn",
                 char_dim: int = 30, char_size: int = 50, char_kernel: int = 3, hidden_size: int = 200,
                 num_layers: int = 2, dropout: float = 0.33, pretrained: Vocab | None = None,
                 pretrained_dim: int = 0, freeze_pretrained: bool = True, word_dropout: float = 0.0):
        super().__init__()
        if char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"char_encoder must be one of {CHAR_ENCODERS}, got {char_encoder!r}")
        if char_encoder is not None and chars is None:
            raise ValueError(f"char_encoder={char_encoder!r} needs a character vocabulary (chars=...)")
        if not 0 <= word_dropout < 1:
            raise ValueError(f"word_dropout must lie in [0, 1), got {word_dropout}")
        if (pretrained is None) != (pretrained_dim == 0):
            raise ValueError("pretrained vectors need both their vocabulary and their size (pretrained_dim > 0)")
        for vocab, name in ((words, "words"), (chars, "chars"), (pretrained, "pretrained")):
            if vocab is not None and (vocab.pad_index != 0 or vocab.unk_index is None):
                raise ValueError(f"the {name} vocabulary needs a pad token at index 0 and an unknown token")
        self.words = words
        self.chars = chars if char_encoder is not None else None
        self.options = {"word_dim": word_dim, "char_encoder": char_encoder, "char_dim": char_dim,
                        "char_size": char_size, "char_kernel": char_kernel, "hidden_size": hidden_size,
                        "num_layers": num_layers, "dropout": dropout, "pretrained_dim": pretrained_dim,
                        "freeze_pretrained": freeze_pretrained, "word_dropout": word_dropout}
        self.word_embed = nn.Embedding(len(words), word_dim, padding_idx=0)
        self.pretrained = pretrained
        self.pretrained_embed = None
        if pretrained is not None:
            self.pretrained_embed = nn.Embedding(len(pretrained), pretrained_dim, padding_idx=0)
            nn.init.zeros_(self.pretrained_embed.weight)
            self.pretrained_embed.weight.requires_grad_(not freeze_pretrained)
        if char_encoder == "cnn":
            self.char_encoder = CharCNN(len(chars), char_dim, char_size, char_kernel)
        elif char_encoder == "lstm":
            self.char_encoder = CharLSTM(len(chars), char_dim, char_size)
        else:
            self.char_encoder = None
        self.char_cache = WordTypeCache()
        input_size = word_dim + pretrained_dim + (char_size if char_encoder else 0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.output_size = 2 * hidden_size

    @classmethod
    def from_corpus(cls, sentences: Sequence[Sequence[str]], min_freq: int = 1, max_words: int | None = None,
                    lowercase: bool = False, extra: Sequence[Sequence[str]] = (), extra_min_freq: int = 2,
                    vectors: str | None = None, vectors_model: str | None = None, extra_vectors: int = 0,
                    **options) -> "BiLSTMEncoder":
        """An encoder whose vocabularies come from training ``sentences`` and unlabelled ``extra`` sentences
        (transfer text).

        The word vocabulary holds the words of ``sentences`` seen ``min_freq`` times and those of ``extra``
        seen ``extra_min_freq`` times (at most ``max_words``, most frequent first; ``lowercase``), the
        character vocabulary every character of both.  With ``vectors`` ("glove" or "subword", see
        :mod:`structkd.encoders.vectors`; ``vectors_model``: the transformers folder of "subword"), the
        pretrained table covers every word of both that the source knows, plus GloVe's ``extra_vectors``
        most frequent words.  ``options`` as in the constructor.
        """
        words = Vocab.build(sentences, min_freq=min_freq, max_size=max_words, lowercase=lowercase)
        if extra:
            more = Vocab.build(extra, min_freq=extra_min_freq, lowercase=lowercase)
            known = set(words.tokens)
            kept = words.tokens[2:] + [t for t in more.tokens[2:] if t not in known]
            words = Vocab(kept[:max_words], lowercase=lowercase)
        corpus = [*sentences, *extra]
        chars = Vocab.build(word for sentence in corpus for word in sentence)
        if vectors is None:
            return cls(words, chars, **options)
        candidates = pretrained_vocabulary(vectors, [w for s in corpus for w in s], extra_vectors)
        table, covered = pretrained_vectors(vectors, candidates, vectors_model)
        pretrained = Vocab([w for w, c in zip(candidates, covered.tolist()) if c], lowercase=True)
        encoder = cls(words, chars, pretrained=pretrained, pretrained_dim=table.shape[1], **options)
        with torch.no_grad():
            encoder.pretrained_embed.weight[2:] = table[covered]  # after the zero pad and unk rows
        return encoder

    @property
    def device(self) -> torch.device:
        return self.word_embed.weight.device

    def forward(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``B`` token lists -> ``(B, N, 2 * hidden_size)`` vectors and ``(B,)`` lengths."""
        lengths = sentence_lengths(sentences, self.device)
        features = [self.word_embed(self._word_ids(sentences))]  # (B, N, word_dim)
        if self.pretrained_embed is not None:
            features.append(self.pretrained_embed(self.pretrained.tensor(sentences, self.device)))
        sizes = [len(sentence) for sentence in sentences]
        padded = min(sizes) < max(sizes)
        if self.char_encoder is not None:
            features.append(self._char_vectors(sentences, sizes, padded))
        return run_lstm(self.lstm, self.dropout(torch.cat(features, -1)), lengths, padded)[0], lengths

    def _word_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """``(B, N)`` word indices, each word replaced by the unknown word with probability ``word_dropout`` in
        training."""
        ids = self.words.tensor(sentences, self.device)
        rate = self.options["word_dropout"]
        if not (self.training and rate):
            return ids
        dropped = (torch.rand(ids.shape, device=ids.device) < rate) & (ids != self.words.pad_index)
        return ids.masked_fill(dropped, self.words.unk_index)

    def _char_vectors(self, sentences: Sequence[Sequence[str]], sizes: list[int], padded: bool) -> torch.Tensor:
        """``(B, N, char_size)`` character-level vectors of every word of sentences of ``sizes`` words (zero on
        padding, which there is when ``padded``); in eval mode without grad, from a cache of word types
        (:class:`WordTypeCache`) that starts with the word vocabulary's."""
        words = [word for sentence in sentences for word in sentence]
        if self.training or torch.is_grad_enabled():
            vectors = self._encode_chars(words)
        else:
            vectors = self.char_cache.lookup(words, self._encode_chars, self.char_encoder.parameters(),
                                             known=self.words.tokens)
        if not padded:  # (always so at batch 1) the words are in place
            return vectors.view(len(sentences), sizes[0], -1)
        return pad_sequence(vectors.split(sizes), batch_first=True)

    def _encode_chars(self, words: Sequence[str]) -> torch.Tensor:
        """``(W, char_size)`` character-level vectors of ``W`` words; an empty word is read as the single unknown
        character."""
        ids = [char_ids(self.chars, word) for word in words]
        chars = pad_indices(ids, self.chars.pad_index, self.device)  # (W, L)
        return self.char_encoder(chars, torch.tensor([len(i) for i in ids], device=self.device))

    def config(self) -> dict:
        """JSON-able arguments that rebuild this encoder (with :meth:`from_config` and its vocabulary files)."""
        return {"kind": self.kind, **self.options}

    def save_assets(self, folder: str | Path) -> None:
        """Write the word (and character) vocabularies into ``folder`` as JSON."""
        write_json(folder, WORDS_FILE, self.words.to_dict())
        if self.pretrained is not None:
            write_json(folder, PRETRAINED_FILE, self.pretrained.to_dict())
        if self.chars is not None:
            write_json(folder, CHARS_FILE, self.chars.to_dict())

    @classmethod
    def from_config(cls, config: dict, folder: str | Path) -> "BiLSTMEncoder":
        """Rebuild from :meth:`config` and the vocabularies :meth:`save_assets` wrote in ``folder``."""
        options = {k: v for k, v in config.items() if k != "kind"}
        chars = None if options["char_encoder"] is None else Vocab.from_dict(read_json(folder, CHARS_FILE))
        pretrained = Vocab.from_dict(read_json(folder, PRETRAINED_FILE)) if options.get("pretrained_dim") else None
        return cls(Vocab.from_dict(read_json(folder, WORDS_FILE)), chars, pretrained=pretrained, **options)
