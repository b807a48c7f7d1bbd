"""Training over several processes launched by ``torchrun`` (gloo on CPU, nccl on GPU), or one process.

The trainer's batches are a function of the seed and the epoch alone (:mod:`structkd.training.sampling`), so
every process draws the same global batches and takes its shard of each, ``batch[rank::world]``.  A process's
loss on its shard is weighted by ``len(shard) / len(batch)`` and the gradients are summed over the processes
(one all-reduce of all gradients, flattened): the summed gradient is that of the mean loss over the global
batch, which a single process computes, so the same seed gives the same model within float rounding (for a
model without dropout: each process draws its own dropout masks).  The sum is taken explicitly rather than by
wrapping the model in ``DistributedDataParallel`` because the tasks call a model's methods (``factorization``,
``scores``), not its ``forward``, which DDP hooks.

One process (rank 0) writes: the run lock, the log, checkpoints and the best model; every process reads a
checkpoint to resume, which therefore resumes with any number of processes.  Teacher targets are computed a
cache shard per process and read by all.  Evaluation predicts a shard of the sentences in each process and
gathers the outputs in the sentences' order.

Launch::

    torchrun --nproc-per-node 4 -m structkd.cli distill ner --teacher ... --output runs/student
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, Sequence

import torch
import torch.distributed as dist


class Distributed:
    """This process's place in the launch: ``rank`` of ``world`` processes (``world == 1``: no group)."""

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank, self.world = rank, world

    @classmethod
    def from_environment(cls, device: str = "cpu") -> "Distributed":
        """The group ``torchrun`` describes in the environment (``WORLD_SIZE``, ``RANK``), joined on first call;
        a single process without it.  Processes other than rank 0 print nothing on stdout."""
        if not cls.launched():
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
        rank = dist.get_rank()
        if rank:
            sys.stdout = open(os.devnull, "w")  # one copy of every message: rank 0's
        return cls(rank, dist.get_world_size())

    @staticmethod
    def launched() -> bool:
        """Whether this process is one of several that ``torchrun`` started (``WORLD_SIZE`` above 1)."""
        return int(os.environ.get("WORLD_SIZE", "1")) > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        """This process's device: ``cuda:LOCAL_RANK`` for a CUDA launch, else ``device``."""
        if self.world > 1 and str(device) == "cuda":
            return f"cuda:{os.environ.get('LOCAL_RANK', self.rank)}"
        return device

    def shard(self, items: Sequence) -> list:
        return list(items[self.rank::self.world])

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the group once every process is done (a process that exits while another still talks to it can
        make gloo abort the other)."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def sum(self, value: float) -> float:
        """``value`` summed over the processes."""
        if self.world == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(total)
        return float(total)

    def sum_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Replace every gradient by its sum over the processes (a missing one counts as zero)."""
        if self.world == 1:
            return
        params = [p for p in parameters if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        for param, grad in zip(params, flat.split([g.numel() for g in grads])):
            param.grad = grad.view_as(param).clone()

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's parameters and buffers."""
        if self.world == 1:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, 0)

    def gather_in_order(self, items: Sequence, predict: Callable[[list], Sequence]):
        """``predict`` over ``items``: each process predicts its shard, and every process gets all the outputs in
        the order of ``items``: one per item, or (when ``predict`` returns a tuple of such lists, as a parser's
        heads and relations) a tuple of lists."""
        if self.world == 1:
            return predict(list(items))
        outputs = predict(self.shard(items))
        parallel = isinstance(outputs, tuple)
        shards: list = [None] * self.world
        dist.all_gather_object(shards, list(zip(*outputs)) if parallel else list(outputs))
        out: list = [None] * len(items)
        for rank, rows in enumerate(shards):
            out[rank::self.world] = rows
        return tuple(map(list, zip(*out))) if parallel else out


SINGLE = Distributed()
