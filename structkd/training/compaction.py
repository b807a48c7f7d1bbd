"""Training a student whose transformer is being compressed out of its teacher's (weight-inherited distillation).

The student is a structkd model (a tagger, a parser, ...) whose ``encoder`` is a
:class:`~structkd.encoders.TransformerEncoder` around a :class:`~structkd.compression.CompactedBert`, and
which lists with ``encoder_inputs()`` the ``(module, parameter name, dimension)`` of every parameter indexed by
the encoder's output width (the first layers of its scorers, a parser's ROOT vector).  Any task of that
student (gold training, or distillation with any objective) gives the loss; :class:`CompactionTask` adds the
compaction: its own learning rate for the compactors, the mask and gradient updates of every step, and
evaluation and saving of the *shipped* student, the dense model :func:`shipped_model` merges, so that the dev
score that selects the best epoch is the score of the model that is saved.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..persistence import partial_folder, replace_folder, save

#: the subfolder of a saved compressed student that holds its merged encoder as a standard transformers folder
BERT_FOLDER = "bert"


def narrow_inputs(uses: Sequence[tuple[nn.Module, str, int]], kept: torch.Tensor) -> None:
    """Keep the ``kept`` indices of dimension ``dim`` of each ``(module, name, dim)`` parameter in place (a
    ``torch.nn.Linear`` also learns its new ``in_features``)."""
    for module, name, dim in uses:
        param = getattr(module, name)
        setattr(module, name, nn.Parameter(param.detach().index_select(dim, kept).clone(),
                                           requires_grad=param.requires_grad))
        if isinstance(module, nn.Linear):
            module.in_features = len(kept)


def shipped_model(model: nn.Module) -> nn.Module:
    """A dense copy of ``model`` (in evaluation mode): its compacted encoder merged into a ``BertModel`` of the
    target shape, and its ``encoder_inputs()`` narrowed to the kept residual dimensions.  ``model`` is left as
    it is."""
    return merged_student(model)[0]


def merged_student(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """:func:`shipped_model` and the merged ``BertModel`` it was made from, with its sentence pooler (the
    dense copy has none: word-level models use no pooler; the standalone encoder folder keeps one)."""
    encoder = model.encoder
    compacted = encoder.model
    kept = compacted.shipping_masks().residual.nonzero().squeeze(-1)
    merged = compacted.merge()
    pooler, merged.pooler = merged.pooler, None
    encoder.model = merged
    try:
        dense = copy.deepcopy(model)
    finally:
        encoder.model, merged.pooler = compacted, pooler
    narrow_inputs(dense.encoder_inputs(), kept)
    return dense.eval(), merged


class CompactionTask:
    """The task of a student under compaction (see the module docstring).

    Args:
        base: the student's training task (its gold task, or a :class:`~structkd.training.DistillationTask`).
        gold: the student's gold task (evaluation, the shipped model's task).
        compactor_lr_scale: the compactors' learning rate over the rest's (the trainer's ``lr``).
    """

    def __init__(self, base, gold, compactor_lr_scale: float = 1.0):
        self.base, self.gold, self.model = base, gold, base.model
        self.compacted = self.model.encoder.model
        self.compactor_lr_scale = compactor_lr_scale
        self._shipped: tuple[int, nn.Module, nn.Module] | None = None  # (step, dense student, merged encoder)

    def loss(self, batch: Sequence, progress: float) -> torch.Tensor:
        return self.base.loss(batch, progress)

    def parameter_groups(self) -> list[dict]:
        """The trainer's optimizer groups: the compactors at ``lr * compactor_lr_scale``, the rest at ``lr``."""
        compactors = self.compacted.compactors()
        ids = {id(p) for p in compactors}
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": rest}, {"params": compactors, "lr_scale": self.compactor_lr_scale}]

    def before_step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """The compaction of training step ``step`` (0-based): masks and gradient edits."""
        self.compacted.update(optimizer, step + 1)

    def shipped(self) -> nn.Module:
        """The dense student at the current weights (merged once per training step)."""
        return self._merged()[0]

    def _merged(self) -> tuple[nn.Module, nn.Module]:
        step = int(self.compacted.step)
        if self._shipped is None or self._shipped[0] != step:
            self._shipped = (step, *merged_student(self.model))
        return self._shipped[1:]

    def _shipped_task(self):
        task = copy.copy(self.gold)
        task.model = self.shipped()
        return task

    def evaluate(self, examples: Sequence) -> dict:
        """The gold task's metrics of the shipped student."""
        return self._shipped_task().evaluate(examples)

    def predict(self, examples: Sequence):
        """The shipped student's outputs."""
        return self._shipped_task().predict(examples)

    def score(self, examples: Sequence, predicted) -> dict:
        return self._shipped_task().score(examples, predicted)

    def save(self, folder: Path) -> None:
        """Save the shipped student as a normal model folder, and its merged encoder (with a pooler) as a
        standard ``transformers`` folder in ``folder/bert``."""
        from transformers.utils import logging

        shipped, merged = self._merged()
        save(shipped, folder)
        bert = partial_folder(Path(folder) / BERT_FOLDER)
        bars = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()  # the write of one small file needs no progress bar
        try:
            merged.save_pretrained(bert)
        finally:
            if bars:
                logging.enable_progress_bar()
        self.model.encoder.tokenizer.save_pretrained(bert)
        replace_folder(bert, Path(folder) / BERT_FOLDER)
