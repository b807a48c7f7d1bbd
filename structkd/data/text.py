"""Raw text: one sentence a line, tokens separated by whitespace."""
from __future__ import annotations

import os
from collections.abc import Iterable

from .errors import DataError
from .lines import read_lines
from .sentence import Sentence


def read_text(path: str | os.PathLike) -> list[Sentence]:
    """One sentence per non-blank line of ``path``, split at whitespace; no tags. Each token is its own
    single field, so :func:`write_columns` writes a token and its predicted tag a line."""
    sentences = []
    for number, text in read_lines(path):
        tokens = text.split()
        if tokens:
            sentences.append(Sentence(tokens, None, [[token] for token in tokens], [], os.fspath(path), number))
    if not sentences:
        raise DataError(path, 1, "no sentence: the file is blank; expected one sentence a line")
    return sentences


def write_text(path: str | os.PathLike, sentences: Iterable[Sentence]) -> None:
    """Write the tokens of each sentence on a line, separated by one space.

    Raises ValueError for a token with whitespace in it, which the line could not keep apart.
    """
    lines = []
    for sentence in sentences:
        for token in sentence.tokens:
            if not token or token.split() != [token]:
                raise ValueError(f"{sentence.path}:{sentence.line}: token {token!r} is empty or holds whitespace; "
                                 "expected tokens that raw text can keep apart")
        lines.append(" ".join(sentence.tokens) + "\n")
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        stream.writelines(lines)
