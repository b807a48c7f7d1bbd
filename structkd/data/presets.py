"""Readers and writers for two column layouts: Universal NER (UNER) and CoNLL-2003."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from .columns import read_columns, write_columns
from .sentence import Sentence

UNER_TYPES = ("PER", "ORG", "LOC")
#: What the official UNER loader maps to ``O``: the ``OTH`` type and the stray ``B-O`` tags of the pre-release
#: train file of UNER English-EWT (harmless on the released files, which do not have them).
UNER_LABEL_MAP = MappingProxyType({"B-OTH": "O", "I-OTH": "O", "B-O": "O"})


def read_uner(path: str | os.PathLike, *, scheme: str = "IOB2", target: str = "BIO", strict: bool = False,
              label_map: Mapping[str, str] | None = UNER_LABEL_MAP, annotated: bool = True) -> list[Sentence]:
    """A UNER file: tab-separated id, token, tag (``scheme``, IOB2 in the released files), misc, annotator;
    ``#`` comments.

    Lines may stop after the tag (the pre-release train file leaves misc and annotator off ``O`` tokens).
    Tags are mapped by ``label_map`` and must then be PER, ORG or LOC; a file that is not ``annotated`` may
    have anything in the tag column. See :func:`read_columns`.
    """
    return read_columns(path, token_column=1, tag_column=2, id_column=0, delimiter="\t", comment_prefix="#",
                        scheme=scheme, target=target, strict=strict, label_map=label_map,
                        entity_types=UNER_TYPES, ragged=True, max_fields=5, annotated=annotated)


def write_uner(path: str | os.PathLike, sentences: Iterable[Sentence],
               predicted_tags: Iterable[Sequence[str]] | None = None, *, scheme: str = "IOB2") -> None:
    """Write sentences read by :func:`read_uner` back, with ``predicted_tags`` converted to ``scheme`` in the
    tag column."""
    write_columns(path, sentences, predicted_tags, tag_column=2, scheme=scheme, delimiter="\t")


def read_conll2003(path: str | os.PathLike, *, scheme: str = "IOB1", target: str = "BIO", strict: bool = False,
                   label_map: Mapping[str, str] | None = None, annotated: bool = True) -> list[Sentence]:
    """A CoNLL-2003-style file: whitespace-separated fields, the token first and the tag last (``scheme``,
    IOB1 in the original release; in a file that is not ``annotated``, anything, e.g. ``_``), ``-DOCSTART-``
    lines between documents (kept with the next sentence's comments). See :func:`read_columns`."""
    return read_columns(path, token_column=0, tag_column=-1, delimiter=None, comment_prefix="-DOCSTART-",
                        scheme=scheme, target=target, strict=strict, label_map=label_map, annotated=annotated)


def write_conll2003(path: str | os.PathLike, sentences: Iterable[Sentence],
                    predicted_tags: Iterable[Sequence[str]] | None = None, *, scheme: str = "IOB1") -> None:
    """Write sentences read by :func:`read_conll2003` back (fields joined by one space), with
    ``predicted_tags`` converted to ``scheme`` in the last field."""
    write_columns(path, sentences, predicted_tags, tag_column=-1, scheme=scheme, delimiter=" ")
