"""Raw text: one sentence a line, tokens separated by whitespace."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def text_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The raw-text files of ``paths``: a file stands for itself, a folder for its ``*.txt`` files (sorted by name,
    licence and readme files left out).  Raises :class:`DataError` for a path that does not exist, a folder with
    no text file, or one file named twice."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(f for f in path.glob("*.txt") if f.is_file() and not _is_notice(f.name))
            if not found:
                raise DataError(path, 1, "the folder holds no *.txt file of raw text")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(path, 1, "no such file or folder")
    twice = sorted({str(f) for f in files if files.count(f) > 1})
    if twice:
        raise DataError(twice[0], 1, "named twice among the transfer text (its sentences would count double)")
    return files


def _is_notice(name: str) -> bool:
    upper = name.upper()
    return "LICENSE" in upper or "LICENCE" in upper or upper.startswith("README")


def read_text_sources(paths: Sequence[str | os.PathLike]) -> list[Sentence]:
    """The sentences of every raw-text file of :func:`text_files`, in order."""
    return [sentence for path in text_files(paths) for sentence in read_text(path)]


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
