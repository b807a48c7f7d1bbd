"""Decoding throughput and size of a trained model, the figures the benchmarks and the main job report."""
from __future__ import annotations

import time
from typing import Protocol, Sequence

from torch import nn


class Predictor(Protocol):
    """A task that decodes sentences in batches of ``eval_batch_size`` (``TaggingTask``, ``ParsingTask``)."""

    model: nn.Module
    eval_batch_size: int

    def predict(self, sentences: Sequence): ...


def sentences_per_second(task: Predictor, sentences: Sequence, batch_size: int) -> float:
    """Sentences per second of ``task.predict`` (eval mode, no grad) over ``sentences`` in batches of
    ``batch_size``, after one warm-up batch."""
    task.eval_batch_size = batch_size
    task.predict(sentences[:batch_size])  # warm-up
    start = time.perf_counter()
    task.predict(sentences)
    return len(sentences) / (time.perf_counter() - start)


def size_and_speed(task: Predictor, sentences: Sequence) -> dict:
    """``parameters`` of ``task.model`` (its ``num_parameters()``) and its sentences per second at batch 32 (``speed_32``) and 1 (``speed_1``)."""
    return {"parameters": task.model.num_parameters(),
            "speed_32": sentences_per_second(task, sentences, 32), "speed_1": sentences_per_second(task, sentences, 1)}
