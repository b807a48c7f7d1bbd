"""The ``dep`` task family of the ``structkd`` command line (train, distill, evaluate, predict)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from structkd.attachment import attachment_scores
from structkd.commands import (
    COUNT, TaskFamily, add_device_option, add_distillation_options, add_encoder_options, add_training_options,
    build_encoder, distillation_run, dropout_options, fit, keep_gold, option, prepare_student,
)
from structkd.data import TreeSentence, read_conllu_trees, read_text_sources
from structkd.divergences import OBJECTIVES as DIVERGENCES
from structkd.export_commands import add_export_arguments, add_predict_arguments, exported_or_none, run_export
from structkd.formats import add_tree_format_arguments, parse_file, predict_exported, text_trees
from structkd.persistence import load

from .export import export_parser
from .model import STRUCTURES, Parser
from .task import ParsingTask
from .trees import is_projective

HELP = {
    "train": "train a biaffine dependency parser (teacher, or a student from gold only) on CoNLL-U files",
    "distill": "distill a dependency parser teacher folder into a student parser",
    "evaluate": "UAS, LAS, UCM and LCM of a parser on a CoNLL-U file (punctuation excluded unless --punct)",
    "predict": "parse a CoNLL-U file (HEAD and DEPREL replaced, all else kept) or raw whitespace-tokenised text",
    "export": "export a parser folder to ONNX (encoder + arc and label scores) with its vocabularies and decoder",
}


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="training CoNLL-U file")
    parser.add_argument("--dev", required=True, help="dev CoNLL-U file (model selection and early stopping)")
    parser.add_argument("--output", required=True, help="run folder: best/ model, checkpoint/, logs")
    parser.add_argument("--max-sentences", type=COUNT, default=None, help="use only the first N training sentences")
    parser.add_argument("--punct", action="store_true", help="score punctuation too when selecting on dev")


def _add_model(parser: argparse.ArgumentParser, prefix: str = "", default: str = "local") -> None:
    add_encoder_options(parser, prefix)
    parser.add_argument(f"--{prefix}structure", choices=STRUCTURES, default=default,
                        help="output factorization: projective (Eisner), nonprojective (matrix-tree, MST), local "
                             "(first-order trained per word, MST), head-selection (per-word argmax, may not be a "
                             "tree), sibling (second order, mean-field)")
    parser.add_argument(f"--{prefix}proj", action="store_true",
                        help="first-order trees decoded by Eisner: same as --structure projective")
    parser.add_argument(f"--{prefix}multiroot", action="store_true", help="allow several words attached to the root")


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    if verb == "train":
        _add_data(parser)
        _add_model(parser)
        add_training_options(parser)
    elif verb == "distill":
        parser.add_argument("--teacher", required=True, help="teacher parser folder (from structkd train dep)")
        _add_data(parser)
        _add_model(parser, "student-", default="head-selection")
        add_distillation_options(parser, ["structural", "token", "posterior", *DIVERGENCES], "word")
        add_training_options(parser, distill=True)
    elif verb == "evaluate":
        parser.add_argument("--model", required=True, help="model folder")
        parser.add_argument("--data", required=True, help="CoNLL-U file with gold trees")
        parser.add_argument("--punct", action="store_true", help="include punctuation (excluded by default)")
        parser.add_argument("--json", default=None, help="also write the scores to this JSON file")
        add_device_option(parser)
    elif verb == "predict":
        add_predict_arguments(parser)
        parser.add_argument("--input", required=True, help="file to parse")
        parser.add_argument("--output", required=True, help="where to write the parsed CoNLL-U file")
        add_tree_format_arguments(parser)
    else:
        add_export_arguments(parser)


def structure(args, prefix: str = "") -> str:
    return "projective" if option(args, prefix, "proj") else option(args, prefix, "structure")


def build_parser(args, sentences, prefix: str = "", rels: list[str] | None = None, transfer=(),
                 teacher=None) -> Parser:
    """A new parser from the command-line options over ``rels`` (default: the relations of ``sentences``), its
    vocabularies from ``sentences`` and the ``transfer`` sentences (a compressed transformer: its weights from
    the ``teacher``)."""
    rels = rels or sorted({r for s in sentences for r in s.rels})
    encoder = build_encoder(args, [s.words for s in sentences], prefix, [s.words for s in transfer], teacher)
    return Parser(encoder, rels, structure(args, prefix), option(args, prefix, "multiroot"),
                  **dropout_options(args, prefix, "dropout", "mlp_dropout"))


def training_trees(args, prefix: str = "") -> list[TreeSentence]:
    """The training trees; a projective parser keeps only the projective ones (and says how many it dropped)."""
    trees = read_conllu_trees(args.train, require_single_root=not option(args, prefix, "multiroot"))
    trees = trees[: args.max_sentences]
    if structure(args, prefix) == "projective":
        kept = [t for t in trees if is_projective(t.heads)]
        print(f"projective training: {len(trees) - len(kept)} of {len(trees)} non-projective trees left out")
        trees = kept
    return trees


def train(args) -> int:
    started = time.time()
    trees, dev = training_trees(args), read_conllu_trees(args.dev)
    trees = [t for t in keep_gold(trees, args.gold_fraction, ["heads", "rels"]) if t.heads is not None]
    torch.manual_seed(args.seed)
    model = build_parser(args, trees)
    return fit(args, ParsingTask(model, args.punct), trees, lambda s: len(s.words), dev, args.encoder, started, "LAS")


def distill(args) -> int:
    started = time.time()
    teacher = load(args.teacher, args.device, kind="parser")
    trees, dev = training_trees(args, "student-"), read_conllu_trees(args.dev)
    trees = keep_gold(trees, args.gold_fraction, ["heads", "rels"])
    transfer = text_trees(read_text_sources(args.transfer))
    torch.manual_seed(args.seed)
    labelled = [t for t in trees if t.heads is not None]
    student = build_parser(args, labelled, "student-", rels=teacher.rels,
                           transfer=[t for t in trees if t.heads is None] + transfer, teacher=teacher)
    student = prepare_student(args, student, teacher)
    task, data, key = distillation_run(args, teacher, ParsingTask(student, args.punct), trees, transfer,
                                       ParsingTask(teacher, args.punct))
    return fit(args, task, data, key, dev, args.student_encoder, started, "LAS")


def evaluate(args) -> int:
    model = load(args.model, args.device, kind="parser")
    trees = read_conllu_trees(args.data, require_single_root=False)
    heads, rels = ParsingTask(model).predict(trees)
    scores = attachment_scores([t.heads for t in trees], [t.rels for t in trees], heads, rels,
                               [t.words for t in trees], punct=args.punct)
    print(f"UAS {scores['uas']:.2f}  LAS {scores['las']:.2f}  UCM {scores['ucm']:.2f}  LCM {scores['lcm']:.2f}")
    print(f"({len(trees)} sentences, {scores['words']} words scored, punctuation "
          f"{'included' if args.punct else 'excluded'})")
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2))
    return 0


def predict(args) -> int:
    exported = exported_or_none(args, "dep")
    if exported is not None:
        return predict_exported(args, exported)
    return parse_file(args, ParsingTask(load(args.model, args.device, kind="parser")).predict)


def export(args) -> int:
    return run_export(args, "parser", export_parser)


DEP = TaskFamily(HELP, add_arguments, {"train": train, "distill": distill, "evaluate": evaluate, "predict": predict,
                                       "export": export})
