"""CoNLL-U sentences as parsed lines: every token line's fields parsed by the ``conllu`` package, with its
line number, and the sentence's syntactic words (the lines with an integer ID)."""
from __future__ import annotations

import os
from typing import Iterator, NamedTuple

from conllu import Token
from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELD_PARSERS, DEFAULT_FIELDS

from .errors import DataError
from .lines import Block, read_blocks


class ConlluLine(NamedTuple):
    """A parsed CoNLL-U token line: its number, its fields and the :class:`conllu.Token` made of them."""
    line: int
    fields: list[str]
    token: Token


class ConlluSentence(NamedTuple):
    """A sentence block of a CoNLL-U file and its syntactic words, in file order (multiword-token lines
    ``3-4`` and empty nodes ``5.1`` are in ``block.lines`` only)."""
    block: Block
    words: list[ConlluLine]


def read_conllu_sentences(path: str | os.PathLike) -> Iterator[ConlluSentence]:
    """The sentences of a CoNLL-U file, ``#`` lines before each one its comments, one at a time (so a
    caller's own checks of a sentence come before any error in a later one).

    Raises :class:`DataError` for what :func:`read_blocks` and :func:`parse_conllu_line` refuse, and for a
    sentence without a syntactic word.
    """
    for block in read_blocks(path, "#"):
        parsed = [parse_conllu_line(path, number, line) for number, line in block.numbered_lines()]
        words = [word for word in parsed if isinstance(word.token["id"], int)]
        if not words:
            raise DataError(path, block.line, "a sentence without words; expected word lines with integer IDs")
        yield ConlluSentence(block, words)


def parse_conllu_line(path: str | os.PathLike, number: int, line: str) -> ConlluLine:
    """Line ``number`` of ``path``, its 10 tab-separated fields parsed by the ``conllu`` package.

    Raises :class:`DataError` for a wrong column count, a field the package refuses or a missing ID.
    """
    fields = line.split("\t")
    if len(fields) != len(DEFAULT_FIELDS):
        raise DataError(path, number, f"{len(fields)} tab-separated columns; expected {len(DEFAULT_FIELDS)} "
                        "(CoNLL-U)")
    token = Token()
    for i, name in enumerate(DEFAULT_FIELDS):
        try:
            token[name] = DEFAULT_FIELD_PARSERS[name](fields, i) if name in DEFAULT_FIELD_PARSERS else fields[i]
        except ParseException as error:
            raise DataError(path, number, f"bad {name.upper()} {fields[i]!r} ({error}); expected a CoNLL-U "
                            f"{name.upper()} value") from None
    if token["id"] is None:
        raise DataError(path, number, f"ID {fields[0]!r}; expected a word index, a range or a decimal")
    return ConlluLine(number, fields, token)
