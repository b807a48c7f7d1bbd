"""Teacher targets kept on disk, so that the teacher runs once per teacher, student and sentences.

A resumed distillation run, and every run that distils the same teacher into the same kind of student over the
same sentences (the seeds of a benchmark row, say), reads the targets of :func:`teacher_targets` back instead of
running the teacher again.  The file (safetensors, no pickle) holds one tensor per sentence (``"i"``; for Top-K
KD ``"i.outputs"`` and ``"i.weights"``) and, in its metadata, the fingerprint of what the targets were computed
from: the teacher's weights and configuration, the student's configuration without its encoder (its
factorization and labels: students that differ in their encoder alone share targets), the sentences, the
method, K and the global temperature.  A file with another fingerprint is recomputed and
replaced, never used.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .distillation import teacher_targets

#: the default cache file, in a distillation run's output folder
TARGETS = "teacher_targets.safetensors"


def fingerprint(teacher: torch.nn.Module, student: torch.nn.Module, words: Sequence[Sequence[str]], method: str,
                k: int, global_temperature: float) -> str:
    """SHA-256 of everything the targets depend on (see the module docstring); the student's weights and encoder
    are not part of it: only its factorization, labels and the sentences' lengths shape the targets."""
    digest = hashlib.sha256()
    for name, tensor in sorted(teacher.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    student_config = {key: value for key, value in _config(student).items() if key != "encoder"}
    settings = {"teacher": _config(teacher), "student": [type(student).__name__, student_config],
                "words": [list(w) for w in words], "method": method, "k": k if method == "topk" else None,
                "global_temperature": global_temperature}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _config(model: torch.nn.Module) -> dict:
    """The model's JSON configuration (:mod:`structkd.persistence`); ``{}`` for a model without one."""
    return model.config() if hasattr(model, "config") else {}


def cached_teacher_targets(path: str | Path, teacher, student, words: Sequence[Sequence[str]],
                           method: str = "structural", k: int = 5, global_temperature: float = 1.0,
                           show_progress: bool = True) -> tuple[list, bool]:
    """``(targets, reused)``: the targets of :func:`teacher_targets`, on CPU, read from ``path`` when it holds
    those of the same fingerprint, else computed and written there (atomically: a killed run leaves no partial
    file)."""
    path = Path(path)
    key = fingerprint(teacher, student, words, method, k, global_temperature)
    if path.is_file() and _stored_fingerprint(path) == key:
        tensors = load_file(path)
        if method == "topk":
            return [(tensors[f"{i}.outputs"], tensors[f"{i}.weights"]) for i in range(len(words))], True
        return [tensors[str(i)] for i in range(len(words))], True
    targets = teacher_targets(teacher, student, words, method, k, global_temperature=global_temperature,
                              show_progress=show_progress)
    targets = [tuple(t.cpu() for t in pair) for pair in targets] if method == "topk" else [t.cpu() for t in targets]
    if method == "topk":
        tensors = {f"{i}.{part}": t for i, pair in enumerate(targets) for part, t in zip(("outputs", "weights"), pair)}
    else:
        tensors = {str(i): t for i, t in enumerate(targets)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_file({name: t.contiguous() for name, t in tensors.items()}, partial, metadata={"fingerprint": key})
    os.replace(partial, path)
    return targets, False


def _stored_fingerprint(path: Path) -> str | None:
    """The fingerprint in a cache file's metadata (None for a file that is no readable cache)."""
    try:
        with safe_open(path, framework="pt") as stored:
            return (stored.metadata() or {}).get("fingerprint")
    except (OSError, SafetensorError):  # a foreign or damaged file: recomputed and replaced, never used
        return None
