"""``python -m structkd.serve ner|dep --model EXPORT --input FILE --output FILE``: tag or parse a file with an
exported model (:mod:`structkd.export`) by onnxruntime, without importing torch.

Reads and writes the files ``structkd predict`` does, with the same format options (:mod:`structkd.formats`), and
writes the same bytes as ``structkd predict --backend onnx`` on the same export.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import reported
from ..formats import add_tag_format_arguments, add_tree_format_arguments, predict_exported
from .model import load_exported


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m structkd.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for task, text in (("ner", "tag a CoNLL/UNER file or raw text"), ("dep", "parse a CoNLL-U file or raw text")):
        sub = tasks.add_parser(task, help=text, description=text)
        sub.add_argument("--model", required=True, help="export folder (from structkd export)")
        sub.add_argument("--input", required=True, help="file to " + ("tag" if task == "ner" else "parse"))
        sub.add_argument("--output", required=True, help="where to write the predictions")
        sub.add_argument("--threads", type=int, default=None, help="onnxruntime's CPU threads")
        if task == "ner":
            add_tag_format_arguments(sub, text=True)
        else:
            add_tree_format_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return reported(lambda: predict(args))


def predict(args: argparse.Namespace) -> int:
    return predict_exported(args, load_exported(args.model, args.task, threads=args.threads))


if __name__ == "__main__":
    sys.exit(main())
