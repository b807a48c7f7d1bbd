"""The files of the command line: the NER column formats (their readers, writers, tag schemes and options) and
the files a parser reads and writes (CoNLL-U, raw text), and ``predict``'s file-to-file flow for either backend.

Imports no torch: the ONNX predictor's command line (``python -m structkd.serve``) reads and writes the same
files as ``structkd predict``, through these functions.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

from .data import (
    UNER_LABEL_MAP, TreeSentence, read_conll2003, read_conllu_tags, read_conllu_trees, read_text, read_uner,
    write_columns, write_conll2003, write_conllu_tags, write_conllu_trees, write_uner,
)

#: each labelled format's reader, writer and the tag scheme of its files (``--tag-scheme`` overrides it)
TAG_READERS = {"uner": read_uner, "conll03": read_conll2003, "conllu": read_conllu_tags}
TAG_WRITERS = {"uner": write_uner, "conll03": write_conll2003, "conllu": write_conllu_tags}
FILE_SCHEMES = {"uner": "IOB2", "conll03": "IOB1", "conllu": "IOB2"}


def read_tagged(path: str, args, scheme: str = "BIO", labelled: bool = True):
    """Sentences of ``path`` in ``args.format``, read with the tag options, tags converted to ``scheme``; a
    file that is not ``labelled`` (to tag) is read without its tags, which may be anything (``_``, empty)."""
    if args.format == "text":
        return read_text(path)
    label_map = dict(UNER_LABEL_MAP if args.format == "uner" else {}) | dict(args.label_map or [])
    return TAG_READERS[args.format](path, scheme=file_scheme(args), target=scheme, strict=args.strict_tags,
                                label_map=label_map or None, annotated=labelled)


def file_scheme(args) -> str:
    return args.tag_scheme or FILE_SCHEMES[args.format]


def label_pair(text: str) -> tuple[str, str]:
    """``FROM=TO`` (an argparse type)."""
    source, sep, target = text.partition("=")
    if not (sep and source and target):
        raise argparse.ArgumentTypeError(f"{text!r}: expected FROM=TO, e.g. B-MISC=O")
    return source, target


def add_tag_format_arguments(parser, text: bool = False) -> None:
    """The input format (every labelled one; raw ``text`` too for a file to tag) and how its tags are read."""
    parser.add_argument("--format", choices=sorted(TAG_READERS) + (["text"] if text else []), default="uner",
                        help="input format: UNER columns (OTH and B-O mapped to O), CoNLL-2003 columns, CoNLL-U "
                             "with tags in MISC NER=" + ("; or text: one whitespace-tokenised sentence a line, "
                                                         "written back as token<TAB>tag lines" if text else ""))
    parser.add_argument("--tag-scheme", choices=["IOB1", "IOB2", "BIOES"], default=None,
                        help="tag scheme of the files (default: IOB2 for uner and conllu, IOB1 for conll03); "
                             "predictions are written in it")
    parser.add_argument("--label-map", type=label_pair, action="append", metavar="FROM=TO",
                        help="rename a tag as it is read, e.g. B-MISC=O (repeatable; uner adds OTH and B-O -> O)")
    parser.add_argument("--strict-tags", action="store_true",
                        help="refuse an I- tag that continues no entity (default: read it as B-, as conlleval)")


def write_tagged(path: str, args, sentences: Sequence, predicted: Sequence[Sequence[str]]) -> None:
    """Write the ``predicted`` tags of ``sentences`` (read by :func:`read_tagged`) in ``args.format``, every byte
    of the input the tags do not own kept; raw text comes back as token<TAB>tag lines."""
    if args.format == "text":
        write_columns(path, sentences, predicted, scheme=args.tag_scheme or "IOB2")
    else:
        TAG_WRITERS[args.format](path, sentences, predicted, scheme=file_scheme(args))


def tag_file(args, tag: Callable[[list], list]) -> int:
    """``predict ner``: read ``args.input``, tag it with ``tag`` (sentences -> tag lists), write ``args.output``."""
    sentences = read_tagged(args.input, args, labelled=False)
    write_tagged(args.output, args, sentences, tag(sentences))
    print(f"tagged {len(sentences)} sentences -> {args.output}")
    return 0


def add_tree_format_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["conllu", "text"], default="conllu",
                        help="input format; text = one whitespace-tokenised sentence a line")


def text_trees(sentences) -> list[TreeSentence]:
    """Raw-text sentences as tree-less :class:`TreeSentence` records (transfer text, text to parse)."""
    return [TreeSentence(s.tokens, None, None, [], s.path, s.line) for s in sentences]


def parse_file(args, parse: Callable[[list], tuple]) -> int:
    """``predict dep``: read ``args.input`` (CoNLL-U, annotated or not, or raw text), parse it with ``parse``
    (sentences -> ``(heads, rels)``), write ``args.output`` as CoNLL-U (HEAD and DEPREL replaced, all else kept)."""
    if args.format == "text":
        sentences = text_trees(read_text(args.input))
        heads, rels = parse(sentences)
        Path(args.output).write_text("".join(
            "".join(f"{i}\t{w}\t_\t_\t_\t_\t{h}\t{r}\t_\t_\n" for i, (w, h, r) in enumerate(zip(s.words, hs, rs), 1))
            + "\n" for s, hs, rs in zip(sentences, heads, rels)))
    else:
        sentences = read_conllu_trees(args.input, annotated=False)
        heads, rels = parse(sentences)
        write_conllu_trees(args.output, sentences, heads, rels)
    print(f"parsed {len(sentences)} sentences -> {args.output}")
    return 0


def predict_exported(args, model) -> int:
    """``predict`` with an exported model (:func:`structkd.serve.load_exported`): :func:`tag_file` or
    :func:`parse_file` by its task."""
    if model.task == "ner":
        return tag_file(args, lambda sentences: model.predict([s.tokens for s in sentences]))
    return parse_file(args, lambda sentences: model.predict([s.words for s in sentences]))
