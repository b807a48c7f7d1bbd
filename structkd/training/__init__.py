"""The training loop (:class:`Trainer`), its pickle-free checkpoints, and distillation from cached teacher targets."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .compaction import BERT_FOLDER, CompactionTask, shipped_model
from .distillation import DistillationTask, GoldTask, Indexed, teacher_targets
from .sampling import GoldTransferMix, Shuffled, batches
from .target_cache import TARGETS, CachedTargets, cached_teacher_targets
from .trainer import (
    SCHEDULES, RunExistsError, Task, TrainConfig, Trainer, check_output, logged_seconds, lr_factor, set_seed,
)

__all__ = ["BERT_FOLDER", "CompactionTask", "shipped_model", "Trainer", "TrainConfig", "Task", "RunExistsError", "batches", "check_output", "logged_seconds", "set_seed", "save_checkpoint",
           "load_checkpoint", "CheckpointError",
           "DistillationTask", "GoldTask", "Indexed", "teacher_targets", "TARGETS", "cached_teacher_targets",
           "CachedTargets", "GoldTransferMix", "Shuffled", "SCHEDULES", "lr_factor"]
