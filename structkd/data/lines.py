"""Lines of a UTF-8 text file with their numbers, and their grouping into sentence blocks."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

from .errors import DataError


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for every line of ``path``, 1-based, without the line ending (LF or CRLF).

    Raises :class:`DataError` naming the line and byte where the file is not UTF-8.
    """
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(path, number, f"not UTF-8: byte 0x{raw[error.start]:02x} at byte "
                                f"{error.start + 1} of the line; expected a UTF-8 text file") from None
            yield number, text.removesuffix("\n").removesuffix("\r")


@dataclass
class Block:
    """A sentence's lines: ``comments`` (verbatim), then ``lines``, its token lines, which start at line
    ``first_token_line``; ``line`` is where the block starts; ``trailing``: in the file's last block, the lines
    after the blank line that ends it (comments at the end of the file, more blank lines)."""
    comments: list[str]
    lines: list[str]
    line: int
    first_token_line: int
    trailing: list[str] = field(default_factory=list)

    def numbered_lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` of the token lines."""
        return enumerate(self.lines, start=self.first_token_line)


def read_blocks(path: str | os.PathLike, comment_prefix: str | tuple[str, ...] | None) -> list[Block]:
    """The sentences of a file of token lines, a blank line after each sentence.

    Before a sentence's first token line, lines starting with ``comment_prefix`` and blank lines beyond the
    one ending the previous sentence go to the sentence's ``comments``; after it, every non-blank line is a
    token line. Comments and blank lines after the last sentence are its block's ``trailing`` lines. Raises
    :class:`DataError` for a file without a token line.
    """
    blocks: list[Block] = []
    comments: list[str] = []
    lines: list[str] = []
    start = first_token_line = 1
    last = 0
    for last, text in read_lines(path):
        if not comments and not lines:
            start = last
        if lines and not text.strip():
            blocks.append(Block(comments, lines, start, first_token_line))
            comments, lines = [], []
        elif lines or (text.strip() and not (comment_prefix and text.startswith(comment_prefix))):
            if not lines:
                first_token_line = last
            lines.append(text)
        else:
            comments.append(text)
    if lines:
        blocks.append(Block(comments, lines, start, first_token_line))
    elif blocks and comments:
        blocks[-1].trailing = comments
    if not blocks:
        raise DataError(path, max(last, 1), f"no sentence in {last} line(s); expected token lines, "
                        "a blank line after each sentence")
    return blocks
