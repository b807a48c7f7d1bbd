"""CoNLL-U files as NER data: the word forms of each sentence and, optionally, a tag per word."""
from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from conllu import Token
from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELD_PARSERS, DEFAULT_FIELDS

from .errors import DataError
from .lines import read_blocks
from .sentence import Sentence
from .tagging import TagReader

TagField = Callable[[Token], "str | None"]


class _Word(NamedTuple):
    """A parsed CoNLL-U line: its number, its fields and the :class:`conllu.Token` made of them."""
    line: int
    fields: list[str]
    token: Token


def read_conllu_tags(path: str | os.PathLike, tag_field: str | TagField | None = "misc:NER", *,
                     scheme: str = "IOB2", target: str = "BIO", label_map: Mapping[str, str] | None = None,
                     strict: bool = False, entity_types: Collection[str] | None = None) -> list[Sentence]:
    """The sentences of a CoNLL-U file: tokens from FORM, tags from ``tag_field``.

    Only syntactic words count: multiword-token lines (``3-4``) and empty nodes (``5.1``) are left out of
    ``tokens``, ``tags`` and ``columns`` (so :func:`write_columns` does not give the file back). ``tag_field`` is ``"misc:KEY"`` (the value of
    ``KEY=`` in MISC, on every word), a function from a parsed :class:`conllu.Token` to its tag, or ``None``
    for no tags; tags then go through the options of :func:`read_columns`. Every field is parsed by the
    ``conllu`` package; its errors, wrong column counts and missing tags raise :class:`DataError`.
    """
    tag_of = _tag_getter(tag_field)
    read_tags = TagReader(scheme, target, label_map, strict, entity_types)
    sentences = []
    for block in read_blocks(path, "#"):
        parsed = [_parse_word(path, number, line) for number, line in block.numbered_lines()]
        words = [word for word in parsed if isinstance(word.token["id"], int)]
        if not words:
            raise DataError(path, block.line, "a sentence without words; expected word lines with integer IDs")
        tags = None
        if tag_of is not None:
            raw_tags = [_word_tag(path, word, tag_of, tag_field) for word in words]
            tags = read_tags(raw_tags, path, [word.line for word in words])
        sentences.append(Sentence([word.token["form"] for word in words], tags, [word.fields for word in words],
                                  block.comments, os.fspath(path), block.line))
    return sentences


def _tag_getter(tag_field: str | TagField | None) -> TagField | None:
    """``tag_field`` as a function of a token (``"misc:KEY"`` reads ``KEY`` in MISC)."""
    if tag_field is None or callable(tag_field):
        return tag_field
    source, _, key = tag_field.partition(":")
    if source != "misc" or not key:
        raise ValueError(f"tag_field {tag_field!r}: expected 'misc:KEY', a function of a conllu.Token or None")
    return lambda token: (token["misc"] or {}).get(key)


def _parse_word(path, number: int, line: str) -> _Word:
    """Line ``number``, its fields parsed by the ``conllu`` package."""
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
    return _Word(number, fields, token)


def _word_tag(path, word: _Word, tag_of: TagField, tag_field) -> str:
    """The raw tag of a word, or a DataError if it has none."""
    tag = tag_of(word.token)
    if tag is None:
        raise DataError(path, word.line, f"no tag for {word.token['form']!r} from tag_field {tag_field!r}; "
                        "expected one on every word")
    return tag
