"""The ``ner`` task family of the ``structkd`` command line (train, distill, evaluate, predict)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from structkd.commands import (
    COUNT, TaskFamily, add_device_option, add_distillation_options, add_encoder_options, add_training_options,
    build_encoder, distillation_run, dropout_options, fit, keep_gold, option, prepare_student,
)
from structkd.data import read_text_sources
from structkd.divergences import OBJECTIVES as DIVERGENCES
from structkd.export_commands import add_export_arguments, add_predict_arguments, exported_or_none, run_export
from structkd.formats import add_tag_format_arguments, predict_exported, read_tagged, tag_file
from structkd.metrics import entity_scores
from structkd.persistence import load
from structkd.schemes import detect_scheme

from .export import export_tagger
from .hf_teacher import load_teacher
from .model import Tagger
from .task import TaggingTask

HELP = {
    "train": "train a NER tagger (teacher, or a student from gold only) on CoNLL/UNER files",
    "distill": "distill a NER teacher folder into a student tagger",
    "evaluate": "entity precision/recall/F1 (seqeval) of a NER model on a labelled file",
    "predict": "tag a CoNLL/UNER file or raw whitespace-tokenised text with a NER model (or its ONNX export)",
    "export": "export a NER model folder to ONNX (encoder + scores) with its vocabularies and decoder",
}


def _add_data(parser, training: bool) -> None:
    add_tag_format_arguments(parser)
    if training:
        parser.add_argument("--train", required=True, help="training file")
        parser.add_argument("--dev", required=True, help="dev file (model selection and early stopping)")
        parser.add_argument("--output", required=True, help="run folder: best/ model, checkpoint/, logs")
        parser.add_argument("--max-sentences", type=COUNT, default=None, help="use only the first N training sentences")


def _add_model(parser, prefix: str = "") -> None:
    add_encoder_options(parser, prefix)
    parser.add_argument(f"--{prefix}head", choices=["crf", "maxent", "span"], default="crf", help="output factorization")
    parser.add_argument(f"--{prefix}scheme", choices=["BIO", "BIOES"], default="BIO", help="tag scheme of the model")


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    if verb == "train":
        _add_data(parser, training=True)
        _add_model(parser)
        add_training_options(parser)
    elif verb == "distill":
        parser.add_argument("--teacher", required=True,
                            help="teacher folder: a structkd model (structkd train ner), or a local Hugging Face "
                                 "token-classification model (a MaxEnt teacher; its id2label must be the tags)")
        _add_data(parser, training=True)
        _add_model(parser, prefix="student-")
        add_distillation_options(parser, ["structural", "token", "posterior", "topk", *DIVERGENCES], "token")
        add_training_options(parser, distill=True)
    elif verb == "evaluate":
        parser.add_argument("--model", required=True, help="model folder")
        parser.add_argument("--data", required=True, help="labelled file")
        _add_data(parser, training=False)
        parser.add_argument("--strict", action="store_true", help="seqeval strict mode in the model's scheme")
        parser.add_argument("--json", default=None, help="also write the scores to this JSON file")
        add_device_option(parser)
    elif verb == "predict":
        add_predict_arguments(parser)
        parser.add_argument("--input", required=True, help="file to tag")
        parser.add_argument("--output", required=True, help="where to write the tagged file")
        add_tag_format_arguments(parser, text=True)
    else:
        add_export_arguments(parser)


def build_tagger(args, sentences, prefix: str = "", tags: list[str] | None = None, transfer=(),
                 teacher=None) -> Tagger:
    """A new tagger from the command-line options (``prefix`` "student-" for distill's student), over
    ``tags`` or, by default, the tag set of ``sentences`` in the chosen scheme; its vocabularies from
    ``sentences`` and the ``transfer`` sentences (a compressed transformer: its weights from the ``teacher``)."""
    tags = tags or tag_set([s.tags for s in sentences], option(args, prefix, "scheme"))
    encoder = build_encoder(args, [s.tokens for s in sentences], prefix, [s.tokens for s in transfer], teacher)
    return Tagger(encoder, tags, option(args, prefix, "head"), **dropout_options(args, prefix, "dropout"))


def tag_set(tag_lists, scheme: str) -> list[str]:
    """"O" and every prefix of ``scheme`` for every entity type seen in ``tag_lists``."""
    kinds = sorted({t.split("-", 1)[1] for tags in tag_lists for t in tags if t != "O"})
    prefixes = ("B", "I") if scheme == "BIO" else ("B", "I", "E", "S")
    return ["O"] + [f"{p}-{k}" for k in kinds for p in prefixes]


def student_tags(teacher, scheme: str) -> list[str]:
    """The student's tags: a label teacher's own tags (same order, so that label marginals line up), or
    for a span teacher its entity types in the student's ``scheme``."""
    if getattr(teacher, "head_name", None) == "span":
        return tag_set([teacher.tags], scheme)
    teacher_scheme = detect_scheme(teacher.tags)
    if teacher_scheme != scheme:
        raise SystemExit(f"structkd: error: the teacher tags in {teacher_scheme}; give the student the same "
                         f"scheme (--student-scheme {teacher_scheme})")
    return list(teacher.tags)


def _load_splits(args, scheme: str):
    train = read_tagged(args.train, args, scheme)[: args.max_sentences]
    dev = read_tagged(args.dev, args, scheme)
    return train, dev


def train(args) -> int:
    started = time.time()
    train_set, dev = _load_splits(args, args.scheme)
    train_set = [s for s in keep_gold(train_set, args.gold_fraction, ["tags"]) if s.tags is not None]
    torch.manual_seed(args.seed)
    model = build_tagger(args, train_set)
    return fit(args, TaggingTask(model), train_set, lambda s: len(s.tokens), dev, args.encoder, started, "F1")


def distill(args) -> int:
    started = time.time()
    teacher = load_teacher(args.teacher, args.device)
    train_set, dev = _load_splits(args, args.student_scheme)
    train_set = keep_gold(train_set, args.gold_fraction, ["tags"])
    transfer = read_text_sources(args.transfer)
    torch.manual_seed(args.seed)
    labelled = [s for s in train_set if s.tags is not None]
    student = build_tagger(args, labelled, prefix="student-", tags=student_tags(teacher, args.student_scheme),
                           transfer=[s for s in train_set if s.tags is None] + transfer, teacher=teacher)
    student = prepare_student(args, student, teacher)
    teacher_task = TaggingTask(teacher) if isinstance(teacher, Tagger) else None
    task, data, key = distillation_run(args, teacher, TaggingTask(student), train_set, transfer, teacher_task)
    return fit(args, task, data, key, dev, args.student_encoder, started, "F1")


def evaluate(args) -> int:
    model = load(args.model, args.device, kind="tagger")
    scheme = detect_scheme(model.tags)
    sentences = read_tagged(args.data, args, scheme)
    predicted = TaggingTask(model).predict(sentences)
    scores = entity_scores([s.tags for s in sentences], predicted, strict_scheme=scheme if args.strict else None)
    print(f"{'type':<8}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for kind, row in [*scores["per_type"].items(), ("ALL", scores)]:
        print(f"{kind:<8}{row['precision']:>10.2f}{row['recall']:>10.2f}{row['f1']:>10.2f}{row['support']:>9}")
    print(f"({'strict ' + scheme if args.strict else 'conlleval-style'} entity matching, {len(sentences)} sentences)")
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2))
    return 0


def predict(args) -> int:
    exported = exported_or_none(args, "ner")
    if exported is not None:
        return predict_exported(args, exported)
    return tag_file(args, TaggingTask(load(args.model, args.device, kind="tagger")).predict)


def export(args) -> int:
    return run_export(args, "tagger", export_tagger)


NER = TaskFamily(HELP, add_arguments, {"train": train, "distill": distill, "evaluate": evaluate, "predict": predict,
                                       "export": export})
