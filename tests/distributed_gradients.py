"""Run by ``torchrun`` from tests/test_distributed.py: one step's gradient of a batch, summed over the processes'
weighted shards (:class:`structkd.training.Trainer` with :class:`structkd.training.distributed.Distributed`), against
the gradient of the whole batch in one process; rank 0 prints the largest difference of each task as JSON."""
import json
import sys
from pathlib import Path

import torch

from parsers.model import Parser
from parsers.task import ParsingTask
from structkd.data import read_conllu_trees
from structkd.encoders import BiLSTMEncoder
from structkd.training import DistillationTask, Indexed, TrainConfig, Trainer, teacher_targets
from structkd.training.distributed import Distributed

distributed = Distributed.from_environment()
trees = read_conllu_trees(Path(__file__).parent / "data" / "ud_en_ewt-ud-test.sample.conllu")[:13]
words = [t.words for t in trees]
rels = sorted({r for t in trees for r in t.rels})


def parser(structure: str) -> ParsingTask:
    torch.manual_seed(0)
    encoder = BiLSTMEncoder.from_corpus(words, char_encoder="cnn", word_dim=8, char_size=6, hidden_size=8, dropout=0.0)
    return ParsingTask(Parser(encoder, rels, structure, dropout=0.0, mlp_dropout=0.0).double())


def largest_difference(task, batch) -> float:
    trainer = Trainer(task, TrainConfig(), "unused", distributed=distributed)
    task.model.zero_grad()
    task.loss(batch, 0.0).backward()
    whole = [p.grad.clone() for p in task.model.parameters()]
    task.model.zero_grad()
    trainer._shard_loss(batch, 0.0).backward()
    distributed.sum_gradients(task.model.parameters())
    return max((a - p.grad).abs().max().item() for a, p in zip(whole, task.model.parameters()))


gold = parser("nonprojective")
teacher = parser("nonprojective").model
student = parser("head-selection")
targets = teacher_targets(teacher, student.model, words, "structural", show_progress=False)
distill = DistillationTask(student, targets, "structural", lam=0.5)
result = {"gold": largest_difference(gold, trees), "distill": largest_difference(distill, [
    Indexed(i, t) for i, t in enumerate(trees)])}
if distributed.is_main:
    sys.stderr.write(json.dumps(result) + "\n")
distributed.close()
