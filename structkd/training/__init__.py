"""The training loop (:class:`Trainer`) and its pickle-free checkpoints."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .trainer import RunExistsError, Task, TrainConfig, Trainer, batches, set_seed

__all__ = ["Trainer", "TrainConfig", "Task", "RunExistsError", "batches", "set_seed", "save_checkpoint",
           "load_checkpoint", "CheckpointError"]
