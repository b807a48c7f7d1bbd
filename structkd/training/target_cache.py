"""Teacher targets kept on disk, streamed: the teacher runs once per teacher, student and sentences, and the
targets of 100k+ transfer sentences never have to sit in memory.

The cache is a folder of shards (safetensors, no pickle), ``shard-00000.safetensors``, ... of ``shard_size``
sentences each: one tensor per sentence (``"i"``; for targets in parts, such as Top-K KD's outputs and weights
or a parser's relation targets, ``"i.0"``, ``"i.1"``, ...) and, in its metadata, the fingerprint of what the targets were computed from: the teacher's weights and configuration,
the student's configuration without its encoder (its factorization and labels: students that differ in their
encoder alone share targets), the sentences, the method (:func:`target_kind`: the divergences share structural
KD's targets, or for a tree student their own), K and the global temperature.  The teacher labels the
sentences one shard at a time, each shard written (atomically) as soon as it is done, so memory holds one shard
and a killed labelling run resumes at the first missing shard.  :class:`CachedTargets` reads the targets back
through memory maps, one sentence at a time.  A shard with another fingerprint is recomputed and replaced, never
used.  Runs that share a cache folder label it one at a time (an exclusive lock on ``.labelling.lock`` there,
which the system frees when its process ends, however it ends): a run that waited finds the shards written and
reads them.  A run maps every shard of its own, fingerprint checked, while it holds the lock, so a later run that
replaces the folder's shards (other sentences, another teacher) never changes what a running one reads.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from ..divergences import OBJECTIVES as DIVERGENCES
from ..structs.tree import TreeFactorization
from .distillation import LABEL_HEADS, teacher_targets
from .distributed import SINGLE, Distributed

#: the default cache folder, in a distillation run's output folder
TARGETS = "teacher_targets"
#: sentences per shard
SHARD_SIZE = 4096
#: the lock file of a cache folder that a labelling run holds
LABELLING_LOCK = ".labelling.lock"


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
                "method": target_kind(student, method),
                "k": k if method == "topk" else None, "global_temperature": global_temperature,
                "label_heads": LABEL_HEADS}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for sentence in words:
        digest.update(json.dumps(list(sentence)).encode())
    return digest.hexdigest()


def target_kind(student: torch.nn.Module, method: str) -> str:
    """What the targets of ``method`` are, for the fingerprint: the divergences cache structural KD's marginals,
    except for a tree student (its teacher's arc scores and view marginals, shared by the four divergences)."""
    if method not in DIVERGENCES:
        return method
    with torch.no_grad():
        tree = isinstance(student.factorization([["."]]), TreeFactorization)
    return "divergence" if tree else "structural"


def _config(model: torch.nn.Module) -> dict:
    """The model's JSON configuration (:mod:`structkd.persistence`); ``{}`` for a model without one."""
    return model.config() if hasattr(model, "config") else {}


class CachedTargets(Sequence):
    """The targets of a cache folder as a read-only sequence: ``targets[i]`` is sentence ``i``'s (a tensor, or a
    tuple of ``parts`` tensors), read from its shard's memory map when asked for.

    Every shard is mapped when the sequence is made, and must carry the ``key`` fingerprint (else ValueError): the
    maps keep these files' contents for as long as the sequence lives, even if another run replaces the files."""

    def __init__(self, folder: Path, count: int, shard_size: int, key: str):
        self.folder, self.count, self.shard_size = folder, count, shard_size
        self._shards = [safe_open(shard_path(folder, n), framework="pt") for n in range(-(-count // shard_size))]
        metadata = [shard.metadata() or {} for shard in self._shards]
        for n, stored in enumerate(metadata):
            if stored.get("fingerprint") != key:
                raise ValueError(f"{shard_path(folder, n)}: these teacher targets belong to other sentences, another "
                                 "teacher or another student kind (another run replaced them); run again to relabel")
        self.parts = int(metadata[0].get("parts", 0)) if metadata else 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        if not 0 <= index < self.count:
            raise IndexError(f"sentence {index} of {self.count}")
        shard = self._shards[index // self.shard_size]
        if self.parts:
            return tuple(shard.get_tensor(f"{index}.{j}") for j in range(self.parts))
        return shard.get_tensor(str(index))


def shard_path(folder: Path, shard: int) -> Path:
    return folder / f"shard-{shard:05d}.safetensors"


def cached_teacher_targets(folder: str | Path, teacher, student, words: Sequence[Sequence[str]],
                           method: str = "structural", k: int = 5, global_temperature: float = 1.0,
                           show_progress: bool = True, shard_size: int = SHARD_SIZE,
                           distributed: Distributed = SINGLE) -> tuple[CachedTargets, bool]:
    """``(targets, reused)``: the targets of :func:`teacher_targets` for ``words``, kept in the cache ``folder``
    (see the module docstring): shards of the same fingerprint are read back, the others computed and written
    one at a time (over several processes, every ``world``-th missing shard by each, then read by all).
    ``reused`` says that the teacher did not run."""
    folder = Path(folder)
    if folder.is_file():
        raise NotADirectoryError(f"{folder}: the teacher-target cache is a folder of shards, and this is a file")
    key = fingerprint(teacher, student, words, method, k, global_temperature)
    shards = range((len(words) + shard_size - 1) // shard_size)
    folder.mkdir(parents=True, exist_ok=True)
    # the processes of one torchrun launch label the cache together; separate runs, one at a time
    with labelling_lock(folder) if distributed.world == 1 else contextlib.nullcontext():
        missing = [n for n in shards if _stored_fingerprint(shard_path(folder, n)) != key]
        distributed.barrier()  # every process has seen which shards were missing before any is written
        mine = distributed.shard(missing)
        for n in tqdm(mine, desc="teacher targets", unit="shard", disable=not show_progress or len(mine) < 2):
            start = n * shard_size
            targets = teacher_targets(teacher, student, words[start : start + shard_size], method, k,
                                      global_temperature=global_temperature, show_progress=show_progress)
            _write_shard(shard_path(folder, n), targets, start, key)
        distributed.barrier()  # every shard is written
        if distributed.is_main:
            for stale in set(folder.glob("shard-*.safetensors")) - {shard_path(folder, n) for n in shards}:
                stale.unlink()  # shards past the end of a longer set of sentences
        distributed.barrier()
        return CachedTargets(folder, len(words), shard_size, key), not missing


@contextlib.contextmanager
def labelling_lock(folder: Path):
    """Hold the cache ``folder``'s labelling lock (exclusive), waiting for another run that holds it."""
    with open(folder / LABELLING_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run that labels {folder}", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _write_shard(path: Path, targets: list, start: int, key: str) -> None:
    """Write one shard atomically (a killed run leaves no partial shard)."""
    parts = len(targets[0]) if isinstance(targets[0], tuple) else 0
    if parts:
        tensors = {f"{start + i}.{j}": t for i, entry in enumerate(targets) for j, t in enumerate(entry)}
    else:
        tensors = {str(start + i): t for i, t in enumerate(targets)}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_file({name: t.contiguous() for name, t in tensors.items()}, partial,
              metadata={"fingerprint": key, "parts": str(parts)})
    os.replace(partial, path)


def _stored_metadata(path: Path) -> dict:
    """A shard's metadata (``{}`` for a missing file or one that is no readable shard)."""
    try:
        with safe_open(path, framework="pt") as stored:
            return stored.metadata() or {}
    except (OSError, SafetensorError):  # missing, foreign or damaged: recomputed and replaced, never used
        return {}


def _stored_fingerprint(path: Path) -> str | None:
    return _stored_metadata(path).get("fingerprint")
