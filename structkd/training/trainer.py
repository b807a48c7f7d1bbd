"""The training loop shared by every model and objective (gold training and distillation alike).

A :class:`Task` says what one step computes; the :class:`Trainer` owns everything around it: batching,
the optimizer, gradient clipping, progress bars, evaluation on dev, early stopping, keeping the best
model, a checkpoint after every epoch and ``resume`` from it.  A crash or kill loses at most the epoch in
progress; with a fixed seed a resumed run takes the same batches and reaches the same weights as an
uninterrupted one.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, Sequence

import torch
from tqdm.auto import tqdm

from ..errors import UserError
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import SINGLE, Distributed
from .sampling import Shuffled

CHECKPOINT, BEST, LOG, CONFIG, LOCK = "checkpoint", "best", "train_log.jsonl", "train_config.json", "run.lock"


class Task(Protocol):
    """What the trainer needs from a model and its objective."""

    model: torch.nn.Module

    def loss(self, batch: Sequence, progress: float) -> torch.Tensor:
        """Mean loss of a batch; ``progress`` in [0, 1] is the fraction of training done (for annealing)."""

    def evaluate(self, examples: Sequence) -> dict:
        """Metrics on held-out examples; the key ``"score"`` is maximised by early stopping."""

    def predict(self, examples: Sequence):
        """The outputs of ``examples`` (what :meth:`score` scores), for evaluation over several processes."""

    def score(self, examples: Sequence, predicted) -> dict:
        """:meth:`evaluate`'s metrics of the outputs ``predicted`` of ``examples``."""

    def save(self, folder: Path) -> None:
        """Save the model as a self-contained folder."""

    # Optional: ``parameter_groups() -> list[dict]``, the optimizer's groups (a group's ``lr_scale`` multiplies
    # the learning rate), and ``before_step(optimizer, step)``, called after the gradients of step ``step``
    # (0-based) are clipped and before the optimizer steps.


SCHEDULES = ("constant", "linear")


@dataclass
class TrainConfig:
    """Optimisation settings (all JSON-able, written next to the run).

    ``schedule``: the learning rate of step ``t`` of ``T`` is ``lr * lr_factor(t, T, schedule, warmup)``.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip: float = 5.0
    patience: int = 3
    seed: int = 0
    schedule: str = "constant"
    warmup: float = 0.0


def lr_factor(step: int, total: int, schedule: str, warmup: float = 0.0) -> float:
    """The learning-rate multiplier of step ``step`` (0-based) of ``total``: a linear ramp from 0 over the first
    ``warmup`` fraction of the steps, then 1 ("constant") or a linear decay to 0 at the last step ("linear")."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {SCHEDULES}")
    ramp = warmup * total
    if step < ramp:
        return (step + 1) / (ramp + 1)
    if schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(total - ramp, 1))


class RunExistsError(UserError, RuntimeError):
    """The output folder already holds a run and ``resume`` was not asked for."""


def check_output(output: str | Path, resume: bool) -> None:
    """Raise :class:`RunExistsError` if ``output`` holds a run (a checkpoint) and ``resume`` is not asked for, or
    holds none to resume when it is, or is being written by another live process; then claim it for this one
    (:func:`claim_output`)."""
    claim_output(output)
    try:
        check_run(output, resume)
    except RunExistsError:
        _release(Path(output) / LOCK, os.getpid())
        raise


def claim_output(output: str | Path) -> None:
    """Mark ``output`` as written by this process (``run.lock`` holds its id until it exits); raise
    :class:`RunExistsError` if another live process holds it.  A lock left by a process that died is taken over."""
    path = Path(output) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is not None and holder != os.getpid() and _alive(holder):
                raise RunExistsError(f"{output} is being written by another run (process {holder}); wait for it to "
                                     "end, or choose another --output") from None
            path.unlink(missing_ok=True)  # ours from an earlier run of this process, or a dead process's
            continue
        with os.fdopen(descriptor, "w") as lock:
            lock.write(f"{os.getpid()}\n")
        atexit.register(_release, path, os.getpid())
        return


def _lock_holder(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: alive, another user's
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _release(path: Path, pid: int) -> None:
    if _lock_holder(path) == pid:
        path.unlink(missing_ok=True)


def check_run(output: str | Path, resume: bool) -> None:
    """The checks of :func:`check_output` on the run itself: a checkpoint to resume, or none to overwrite."""
    checkpoint = Path(output) / CHECKPOINT
    if checkpoint.exists() and not resume:
        raise RunExistsError(f"{output} already holds a run (found {checkpoint}); pass --resume to continue it, "
                             "or choose another output folder")
    if resume and not checkpoint.exists():
        raise RunExistsError(f"{output}: nothing to resume (no {CHECKPOINT}/ there, so no epoch of a run finished); "
                             "leave out --resume to start the run")


#: settings a resumed run may change (it may run longer, or wait longer for a dev gain)
RESUMABLE_CHANGES = ("epochs", "patience")


def check_resumed_config(saved: dict, config: "TrainConfig", output: Path) -> None:
    """Raise :class:`RunExistsError` when ``config`` differs from the run's ``saved`` settings other than in
    :data:`RESUMABLE_CHANGES` (the rest would not reproduce the run)."""
    changed = [f"{k} {saved[k]} -> {v}" for k, v in asdict(config).items()
               if k in saved and saved[k] != v and k not in RESUMABLE_CHANGES]
    if changed:
        raise RunExistsError(f"{output} was started with other settings ({', '.join(changed)}); resume it with its "
                             "own, or start a new run in another --output")


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def adamw(groups: list[dict], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over parameter ``groups``, fused where torch has a fused kernel for every parameter (floating point,
    on CPU or CUDA): the same update in one pass over each tensor.  On CPU the default loops over the update's
    steps tensor by tensor; with a student's 11M-entry word table that took about 10x as long as the fused
    update (166 ms against 16 ms a step, one thread)."""
    params = [p for group in groups for p in group["params"]]
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)


def logged_seconds(output: str | Path) -> float | None:
    """The wall seconds of a run folder's epochs (training and dev evaluation), summed over every call that
    trained them (a resumed run's earlier calls included: the log keeps the epochs of its checkpoint); None when
    the log is missing or some epoch's time is not in it (logged by a version that did not record it)."""
    log = Path(output) / LOG
    epochs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if not epochs or any("seconds" not in epoch for epoch in epochs):
        return None
    return round(sum(epoch["seconds"] for epoch in epochs), 1)


class Trainer:
    """Fits a :class:`Task` on training examples, selecting the best epoch on dev.

    Layout of ``output``: ``best/`` (the best model, saved by the task), ``checkpoint/`` (the last
    finished epoch, for ``resume``), ``train_log.jsonl`` (one line of metrics per epoch) and
    ``train_config.json``.  With ``distributed`` (a ``torchrun`` launch, :mod:`structkd.training.distributed`)
    each process trains on its shard of every batch and only rank 0 writes.
    """

    def __init__(self, task: Task, config: TrainConfig, output: str | Path, sort_key=None, show_progress=True,
                 distributed: Distributed = SINGLE):
        self.task, self.config, self.output = task, config, Path(output)
        self.sort_key, self.dist = sort_key, distributed
        self.show_progress = show_progress and distributed.is_main
        groups = (task.parameter_groups() if hasattr(task, "parameter_groups")
                  else [{"params": [p for p in task.model.parameters() if p.requires_grad]}])
        self.optimizer = adamw(groups, config.lr, config.weight_decay)

    def fit(self, train, dev: Sequence, resume: bool = False) -> dict:
        """Train on ``train`` (a sequence of examples, each seen once an epoch, or a sampler of
        :mod:`structkd.training.sampling`); return the best dev metrics (with the epoch they were reached at)."""
        sampler = train if hasattr(train, "epoch_batches") else Shuffled(train, self.sort_key)
        state = self._start(resume)
        total_steps = self.config.epochs * sampler.batches_per_epoch(self.config.batch_size)
        for epoch in range(state["epoch"] + 1, self.config.epochs + 1):
            if state["bad_epochs"] >= self.config.patience:
                break
            started = time.perf_counter()
            epoch_batches = sampler.epoch_batches(epoch, self.config.batch_size, self.config.seed)
            train_loss = self._epoch(epoch_batches, epoch, state, total_steps)
            metrics = self._evaluate(dev)
            improved = metrics["score"] > state["best"].get("score", -math.inf)
            if improved:
                state["best"] = dict(metrics, epoch=epoch)
            state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
            state["epoch"] = epoch
            if self.dist.is_main:
                if improved:
                    self.task.save(self.output / BEST)
                self._log(dict(epoch=epoch, train_loss=train_loss, **{f"dev_{k}": v for k, v in metrics.items()},
                               seconds=round(time.perf_counter() - started, 1)))
                save_checkpoint(self.output / CHECKPOINT, self.task.model, self.optimizer, state)
            if self.show_progress:
                tqdm.write(f"epoch {epoch}: train loss {train_loss:.4f}, dev score {metrics['score']:.2f}"
                           + (" (best)" if improved else ""))
        self.dist.barrier()  # the last checkpoint and best model are written before any process moves on
        return state["best"]

    def _evaluate(self, dev: Sequence) -> dict:
        """The task's dev metrics; over several processes, of the outputs each predicts for its shard."""
        if self.dist.world == 1:
            return self.task.evaluate(dev)
        return self.task.score(dev, self.dist.gather_in_order(dev, self.task.predict))

    def _start(self, resume: bool) -> dict:
        checkpoint, settings = self.output / CHECKPOINT, self.output / CONFIG
        if self.dist.is_main:
            check_output(self.output, resume)
            if resume and settings.exists():
                check_resumed_config(json.loads(settings.read_text()), self.config, self.output)
            settings.write_text(json.dumps(asdict(self.config), indent=2))
        self.dist.barrier()  # rank 0 has checked and claimed the folder
        if not resume:
            set_seed(self.config.seed)
            self.dist.broadcast_parameters(self.task.model)
            return {"epoch": 0, "step": 0, "best": {}, "bad_epochs": 0}
        state = load_checkpoint(checkpoint, self.task.model, self.optimizer)
        if self.dist.is_main:
            self._truncate_log(state["epoch"])
        finished = "; nothing is left to train" if state["epoch"] >= self.config.epochs or \
            state["bad_epochs"] >= self.config.patience else ""
        print(f"resuming {self.output} after epoch {state['epoch']} (best dev score "
              f"{state['best'].get('score', float('nan')):.2f}){finished}")
        return state

    def _truncate_log(self, epoch: int) -> None:
        """Drop the log lines of epochs after the checkpoint's (logged by a run killed before it checkpointed)."""
        log = self.output / LOG
        if log.exists():
            lines = [line for line in log.read_text().splitlines() if json.loads(line)["epoch"] <= epoch]
            log.write_text("".join(line + "\n" for line in lines))

    def _epoch(self, epoch_batches: list[list], epoch: int, state: dict, total_steps: int) -> float:
        self.task.model.train()
        losses, seen, start = [], 0, time.perf_counter()
        bar = tqdm(epoch_batches, desc=f"epoch {epoch}/{self.config.epochs}", unit="batch",
                   disable=not self.show_progress, leave=False)
        for batch in bar:
            factor = lr_factor(state["step"], total_steps, self.config.schedule, self.config.warmup)
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr * factor * group.get("lr_scale", 1.0)
            loss = self._shard_loss(batch, state["step"] / max(total_steps, 1))
            self.optimizer.zero_grad()
            loss.backward()
            self.dist.sum_gradients(self.task.model.parameters())
            loss = self.dist.sum(loss.item())
            torch.nn.utils.clip_grad_norm_(self.task.model.parameters(), self.config.clip)
            if hasattr(self.task, "before_step"):
                self.task.before_step(self.optimizer, state["step"])
            self.optimizer.step()
            state["step"] += 1
            losses.append(loss)
            seen += len(batch)
            bar.set_postfix(loss=f"{loss:.3f}", sents_per_s=f"{seen / (time.perf_counter() - start):.0f}")
        return sum(losses) / max(len(losses), 1)

    def _shard_loss(self, batch: list, progress: float) -> torch.Tensor:
        """The task's mean loss of this process's shard of ``batch``, weighted by the shard's share of the batch
        (so that the sum over the processes is the batch's mean loss); 0 for an empty shard."""
        if self.dist.world == 1:
            return self.task.loss(batch, progress=progress)
        shard = self.dist.shard(batch)
        if not shard:  # a last batch smaller than the number of processes
            return sum(p.sum() * 0.0 for p in self.task.model.parameters() if p.requires_grad)
        return self.task.loss(shard, progress=progress) * (len(shard) / len(batch))

    def _log(self, record: dict) -> None:
        with open(self.output / LOG, "a") as log:
            log.write(json.dumps(record) + "\n")
