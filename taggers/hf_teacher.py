"""Teachers from elsewhere: a local Hugging Face token-classification model as a MaxEnt teacher.

Any folder that ``AutoModelForTokenClassification`` loads (offline) can teach: its classifier's logits at
each word's first subword (the usual token-classification convention, with the same sliding windows as
:class:`structkd.encoders.TransformerEncoder`) are the potentials of a :class:`structkd.MaxEnt`; its
``id2label`` must be the tags (BIO or BIOES).  Scenario 3 (MaxEnt -> CRF) distills it into a CRF student.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from structkd import MaxEnt
from structkd.encoders import TransformerEncoder
from structkd.persistence import ModelFolderError, load, read_json
from structkd.schemes import parse_tag


class HFTokenClassifier(nn.Module):
    """A Hugging Face ``*ForTokenClassification`` model behind the tagger interface (``factorization``)."""

    def __init__(self, folder: str | Path):
        super().__init__()
        from transformers import AutoModelForTokenClassification

        hf = AutoModelForTokenClassification.from_pretrained(str(folder), local_files_only=True)
        self.tags = [hf.config.id2label[i] for i in range(hf.config.num_labels)]
        try:
            for tag in self.tags:
                parse_tag(tag)
        except ValueError as err:
            raise ModelFolderError(f"{folder}: id2label must hold BIO/BIOES tags: {err}") from err
        self.encoder = TransformerEncoder(str(folder), files=folder)  # the architecture; the weights are hf's
        self.encoder.model.load_state_dict(hf.base_model.state_dict())
        self.classifier = hf.classifier
        self.eval()

    def factorization(self, words: Sequence[Sequence[str]]) -> MaxEnt:
        """``(B, N, C)`` first-subword logits as a :class:`structkd.MaxEnt` labelled with the tags."""
        vectors, lengths = self.encoder(words)
        return MaxEnt(self.classifier(vectors), lengths, labels=self.tags)


def load_teacher(folder: str | Path, device: str = "cpu") -> nn.Module:
    """A structkd model folder (:func:`structkd.persistence.load`) or a Hugging Face token-classification
    folder (:class:`HFTokenClassifier`), told apart by their ``config.json``, on ``device``."""
    config = read_json(folder, "config.json")
    if not isinstance(config, dict):
        raise ModelFolderError(f"{folder}: its config.json is not a JSON object: not a model folder")
    if "class" in config:
        return load(folder, device, kind="tagger")
    if any(arch.endswith("ForTokenClassification") for arch in config.get("architectures", [])):
        with torch.no_grad():
            return HFTokenClassifier(folder).to(device)
    raise ModelFolderError(f"{folder}: neither a structkd model nor a Hugging Face token-classification model")
