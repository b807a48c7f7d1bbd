"""The sentence record that every reader returns and every writer takes."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sentence:
    """One sentence as read from a file, with all it takes to write it back unchanged.

    ``tokens`` are the word forms; ``tags`` the NER tags in the reader's target scheme (``None`` when the
    file has none); ``columns`` the raw fields of each token line (for raw text: the token alone);
    ``comments`` the non-token lines before the sentence, verbatim (comments, document separators and any
    blank lines beyond the one that ends the previous sentence); ``path`` and ``line`` where it starts
    (1-based, its first comment line if it has comments); ``trailing``: for a file's last sentence, the lines
    after it (comments at the end of the file).
    """
    tokens: list[str]
    tags: list[str] | None
    columns: list[list[str]]
    comments: list[str]
    path: str
    line: int
    trailing: list[str] = field(default_factory=list)
