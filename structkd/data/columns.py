"""Column files (one token a line, a blank line after each sentence): read them, and write them back
unchanged but for the predicted tags."""
from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence

from ..schemes import convert_tags, detect_scheme
from .errors import DataError
from .lines import read_blocks
from .sentence import Sentence
from .tagging import TagReader


def read_columns(path: str | os.PathLike, *, token_column: int, tag_column: int | None,
                 delimiter: str | None = "\t", scheme: str = "IOB2", target: str = "BIO",
                 label_map: Mapping[str, str] | None = None, strict: bool = False,
                 entity_types: Collection[str] | None = None, comment_prefix: str | tuple[str, ...] | None = "#",
                 id_column: int | None = None, ragged: bool = False, max_fields: int | None = None,
                 annotated: bool = True) -> list[Sentence]:
    """The sentences of a column file.

    Fields are split at ``delimiter`` (``None``: runs of whitespace); the token is field ``token_column``,
    the tag field ``tag_column`` (``None``: no tags; negative indices count from the end of the line), the
    token id, checked to count 1, 2, ... in each sentence, field ``id_column``. Every token line has as many
    fields as the file's first one, unless ``ragged`` (then each needs the fields named and at most
    ``max_fields``). A file that is not ``annotated`` (the input of a prediction) still has its tag field,
    but it is not read (it may be ``_`` or empty): the sentences' tags are None. Tags go through
    ``label_map`` first, are decoded in ``scheme`` (IOB1, IOB2 = BIO or BIOES; ``strict`` refuses an ``I-``
    tag that continues no entity instead of repairing it), checked against ``entity_types`` and returned in
    ``target`` (BIO or BIOES). Lines starting with ``comment_prefix`` before a sentence are its comments.
    Raises :class:`DataError` on malformed input.
    """
    read_tags = TagReader(scheme, target, label_map, strict, entity_types)
    named = [column for column in (token_column, tag_column, id_column) if column is not None]
    needed = max(column + 1 if column >= 0 else -column for column in named)
    blocks = read_blocks(path, comment_prefix)
    first_line = blocks[0].first_token_line
    width = len(blocks[0].lines[0].split(delimiter))

    def fields_of(number: int, line: str, position: int) -> list[str]:
        """The fields of the ``position``-th (1-based) token line of a sentence, checked: their number, the token
        id, a non-empty token."""
        fields = line.split(delimiter)
        if not ragged and len(fields) != width:
            raise DataError(path, number, f"{len(fields)} columns; expected {width} like the first token line "
                            f"(line {first_line})")
        if len(fields) < needed or (max_fields is not None and len(fields) > max_fields):
            most = "" if max_fields is None else f" and at most {max_fields}"
            raise DataError(path, number, f"{len(fields)} columns; expected at least {needed}{most}")
        if id_column is not None and fields[id_column] != str(position):
            raise DataError(path, number, f"token id {fields[id_column]!r} in column {id_column}; expected "
                            f"{position} (token ids count 1, 2, 3, ... in each sentence)")
        if tag_column is not None and tag_column % len(fields) == token_column % len(fields):
            raise DataError(path, number, "only the token, no tag column; expected a tag (or _ in a file to tag) "
                            "after it")
        if not fields[token_column]:
            raise DataError(path, number, f"empty token in column {token_column}; expected a word form")
        return fields

    sentences = []
    for block in blocks:
        numbered = list(block.numbered_lines())
        columns = [fields_of(number, line, position) for position, (number, line) in enumerate(numbered, 1)]
        tags = None
        if tag_column is not None and annotated:
            tags = read_tags([fields[tag_column] for fields in columns], path, [number for number, _ in numbered])
        sentences.append(Sentence([fields[token_column] for fields in columns], tags, columns, block.comments,
                                  os.fspath(path), block.line, block.trailing))
    return sentences


def write_columns(path: str | os.PathLike, sentences: Iterable[Sentence],
                  predicted_tags: Iterable[Sequence[str]] | None = None, *, tag_column: int | None = None,
                  scheme: str = "IOB2", delimiter: str | None = "\t") -> None:
    """Write ``sentences`` as a column file: each one's comments, its token lines and a blank line.

    Without ``predicted_tags`` every field is written as read, so an unmodified file in this layout (LF line
    ends, one blank line after each sentence, comments at its end included) comes back byte for byte. With
    them (one tag sequence per sentence, BIO or BIOES), they are converted to ``scheme`` and replace field
    ``tag_column``, or are appended as a last field when ``tag_column`` is ``None``. Fields are joined by
    ``delimiter`` (``None``: one space).
    """
    sentences = list(sentences)
    if predicted_tags is None:
        rows = [sentence.columns for sentence in sentences]
    else:
        predicted_tags = list(predicted_tags)
        if len(predicted_tags) != len(sentences):
            raise ValueError(f"{len(predicted_tags)} predicted tag sequences for {len(sentences)} sentences")
        rows = [_with_tags(sentence, tags, tag_column, scheme) for sentence, tags in zip(sentences, predicted_tags)]
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for sentence, sentence_rows in zip(sentences, rows):
            lines = sentence.comments + [(delimiter or " ").join(fields) for fields in sentence_rows] + [""]
            stream.write("\n".join(lines + sentence.trailing) + "\n")


def _with_tags(sentence: Sentence, tags: Sequence[str], tag_column: int | None, scheme: str) -> list[list[str]]:
    """The sentence's fields with ``tags``, converted to ``scheme``, in field ``tag_column`` (or appended)."""
    if len(tags) != len(sentence.tokens):
        raise ValueError(f"{sentence.path}:{sentence.line}: {len(tags)} predicted tags for "
                         f"{len(sentence.tokens)} tokens")
    rows = []
    for fields, tag in zip(sentence.columns, convert_tags(tags, detect_scheme(tags), scheme)):
        fields = list(fields)
        if tag_column is None:
            fields.append(tag)
        else:
            fields[tag_column] = tag
        rows.append(fields)
    return rows
