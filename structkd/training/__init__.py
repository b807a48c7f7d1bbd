"""The training loop (:class:`Trainer`), its pickle-free checkpoints, and distillation from cached teacher targets."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .distillation import DistillationTask, GoldTask, Indexed, teacher_targets
from .trainer import RunExistsError, Task, TrainConfig, Trainer, batches, set_seed

__all__ = ["Trainer", "TrainConfig", "Task", "RunExistsError", "batches", "set_seed", "save_checkpoint",
           "load_checkpoint", "CheckpointError",
           "DistillationTask", "GoldTask", "Indexed", "teacher_targets"]
